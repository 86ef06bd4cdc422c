// A virtualized list: only the rows in view (and a few around them) exist in the DOM, so a
// list of 100,000 rows scrolls and updates as fast as one of 20.
import { h } from "./dom.ts";

export interface VirtualList<T> {
  element: HTMLElement;
  setItems(items: readonly T[]): void;
}

export function virtualList<T>(
  rowHeight: number,
  renderRow: (item: T, index: number) => HTMLElement,
  label: string,
): VirtualList<T> {
  let items: readonly T[] = [];
  const spacer = h("div", { class: "vlist-spacer" });
  const rows = h("ul", { class: "vlist-rows", role: "list" });
  const element = h("div", { class: "vlist", "aria-label": label }, spacer, rows);
  let frame = 0;

  function draw() {
    frame = 0;
    const height = element.clientHeight || 400;
    const first = Math.max(0, Math.floor(element.scrollTop / rowHeight) - 5);
    const last = Math.min(items.length, Math.ceil((element.scrollTop + height) / rowHeight) + 5);
    rows.style.transform = `translateY(${first * rowHeight}px)`;
    const children: HTMLElement[] = [];
    for (let index = first; index < last; index += 1) {
      const row = renderRow(items[index]!, index);
      row.style.height = `${rowHeight}px`;
      children.push(row);
    }
    rows.replaceChildren(...children);
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  element.addEventListener("scroll", schedule, { passive: true });
  return {
    element,
    setItems(next) {
      items = next;
      spacer.style.height = `${items.length * rowHeight}px`;
      element.scrollTop = 0;
      draw();
    },
  };
}
