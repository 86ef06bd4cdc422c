// The target editor: one input per expression, with autocomplete of metric paths
// (/metrics/find) and of function names with their parameters (/functions).
import { functionList, getJson, type FindNode } from "./api.ts";
import { debounce, h } from "./dom.ts";
import { completionQuery, tokenAt } from "./expr.ts";

interface Suggestion {
  insert: string;
  label: string;
  detail: string;
}

let editorCount = 0;

/** An input with a suggestion list; `onSubmit` runs on Enter when no suggestion is open. */
export function targetInput(value: string, label: string, onSubmit: () => void): HTMLElement & { input: HTMLInputElement } {
  editorCount += 1;
  const listId = `suggestions-${editorCount}`;
  const input = h("input", {
    type: "text",
    class: "target-input",
    value,
    "aria-label": label,
    autocomplete: "off",
    spellcheck: "false",
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": listId,
  });
  const list = h("ul", { class: "suggestions", role: "listbox", id: listId, hidden: true });
  const wrapper = Object.assign(h("div", { class: "target-editor" }, input, list), { input });
  let suggestions: Suggestion[] = [];
  let active = -1;
  let start = 0;
  let request = 0;

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    suggestions = [];
    active = -1;
  }

  function show() {
    list.replaceChildren(
      ...suggestions.map((one, index) =>
        h(
          "li",
          {
            role: "option",
            id: `${listId}-${index}`,
            "aria-selected": String(index === active),
            onmousedown: ((event: Event) => {
              event.preventDefault();
              accept(index);
            }) as EventListener,
          },
          h("span", { class: "mono" }, one.label),
          one.detail ? h("span", { class: "muted" }, ` ${one.detail}`) : null,
        ),
      ),
    );
    list.hidden = suggestions.length === 0;
    input.setAttribute("aria-expanded", String(suggestions.length > 0));
    if (active >= 0) input.setAttribute("aria-activedescendant", `${listId}-${active}`);
  }

  function accept(index: number) {
    const one = suggestions[index];
    if (!one) return;
    const cursor = input.selectionStart ?? input.value.length;
    input.value = input.value.slice(0, start) + one.insert + input.value.slice(cursor);
    const caret = start + one.insert.length;
    input.setSelectionRange(caret, caret);
    close();
    input.focus();
    if (one.insert.endsWith(".")) void suggest();
  }

  async function suggest() {
    const cursor = input.selectionStart ?? input.value.length;
    const token = tokenAt(input.value, cursor);
    start = token.start;
    const mine = (request += 1);
    if (token.token === "") return close();
    const found: Suggestion[] = [];
    if (/^[A-Za-z]+$/.test(token.token)) {
      const functions = await functionList().catch(() => []);
      for (const one of functions) {
        if (!one.name.toLowerCase().startsWith(token.token.toLowerCase())) continue;
        const params = one.params.map((p) => (p.required ? p.name : `${p.name}?`) + (p.multiple ? "…" : ""));
        found.push({ insert: `${one.name}(`, label: `${one.name}(${params.join(", ")})`, detail: one.description });
      }
    }
    try {
      const nodes = await getJson<FindNode[]>("metrics/find", new URLSearchParams({ query: completionQuery(token.token) }));
      const seen = new Set<string>();
      for (const node of nodes) {
        const branch = node.expandable === 1 || node.expandable === true;
        const insert = branch ? `${node.id}.` : node.id;
        if (seen.has(insert)) continue;
        seen.add(insert);
        found.push({ insert, label: insert, detail: branch ? "" : "metric" });
      }
    } catch {
      // an incomplete path can be an invalid glob: no path suggestions then
    }
    if (mine !== request) return;
    suggestions = found.slice(0, 50);
    active = suggestions.length ? 0 : -1;
    show();
  }

  const suggestSoon = debounce(() => void suggest(), 150);
  input.addEventListener("input", suggestSoon);
  input.addEventListener("blur", () => setTimeout(close, 100));
  input.addEventListener("keydown", (event) => {
    const open = !list.hidden && suggestions.length > 0;
    if (event.key === "ArrowDown" && open) {
      active = (active + 1) % suggestions.length;
      show();
      event.preventDefault();
    } else if (event.key === "ArrowUp" && open) {
      active = (active - 1 + suggestions.length) % suggestions.length;
      show();
      event.preventDefault();
    } else if ((event.key === "Enter" || event.key === "Tab") && open && active >= 0) {
      accept(active);
      event.preventDefault();
    } else if (event.key === "Escape" && open) {
      close();
      event.preventDefault();
    } else if (event.key === "Enter") {
      event.preventDefault();
      close();
      onSubmit();
    }
  });
  return wrapper;
}
