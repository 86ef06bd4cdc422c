// Where the app lives. The built app's script sits in `<base>assets/`, so its own URL says the
// base path whatever prefix a reverse proxy serves it under (`/`, `/abacus/`, …); in `vite dev`
// this module sits in `<base>src/`, one level down as well. Every link and API call is made
// relative to it.

/** The base path of a module one directory below the app's root, ending in "/". */
export function basePathOf(moduleUrl: string): string {
  return new URL("..", moduleUrl).pathname;
}

export const BASE = basePathOf(import.meta.url);

/** The app-relative route of a pathname ("" for the Metrics page, "graph", …). */
export function routeOf(pathname: string, base: string = BASE): string {
  const rest = pathname.startsWith(base) ? pathname.slice(base.length) : pathname.replace(/^\//, "");
  return rest.replace(/\/+$/, "");
}

/** An app or API URL under the base path. */
export function href(path: string, query?: string | URLSearchParams): string {
  const text = typeof query === "string" ? query : query?.toString();
  return `${BASE}${path}${text ? `?${text}` : ""}`;
}

/** Where sign-in goes next (`?next=`): a path of this app, else its first page. Never another
 * origin (`//host/…`, `https://…`), a path outside the base, or the sign-in page again. */
export function nextPath(search: string, base: string = BASE): string {
  const next = new URLSearchParams(search).get("next") ?? "";
  const isAppPath = next.startsWith(base) && !next.startsWith("//") && !next.includes("\\");
  if (isAppPath && routeOf(new URL(next, "http://x").pathname, base) !== "signin") return next;
  return base;
}
