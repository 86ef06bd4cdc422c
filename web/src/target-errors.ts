// A target's parse error as the Graph page and the dashboard's add-graph form show it: the
// API's message, and the target again with a caret under the position where the parser stopped.
import type { TargetError } from "./data.ts";
import { h } from "./dom.ts";

/** One alert per error, numbered as the user's targets are (Target 1, Target 2, …). */
export function targetErrorAlerts(errors: readonly TargetError[]): HTMLElement[] {
  return errors.map((error) => {
    const at = error.position;
    return h(
      "div",
      { class: "error target-error", role: "alert" },
      h("p", {}, `Target ${error.source + 1}: ${error.message}`),
      at === null ? null : h("pre", { class: "mono" }, `${error.target}\n${" ".repeat(at)}^`),
    );
  });
}
