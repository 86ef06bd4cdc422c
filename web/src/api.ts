// Calls to the Abacus API. Errors carry the API's own message (`{"error": "…"}`). Every
// state-changing request carries the session's CSRF token (`X-Abacus-CSRF`), which the API
// requires of a request the session cookie authenticates.
import { href } from "./base.ts";
import { csrfHeader } from "./session.ts";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function getJson<T>(
  path: string,
  query?: URLSearchParams | string,
  signal?: AbortSignal,
): Promise<T> {
  const response = await fetch(href(path, query), { signal, headers: { Accept: "application/json" } });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = (await response.json()) as { error?: string };
      if (body.error) message = body.error;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, message);
  }
  return (await response.json()) as T;
}

/** A POST, PUT, PATCH or DELETE with an optional JSON body. */
export async function sendJson<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...csrfHeader() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(href(path), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new ApiError(response.status, answer.error ?? response.statusText);
  return answer;
}

export function postJson<T>(path: string, body: unknown): Promise<T> {
  return sendJson<T>("POST", path, body);
}

export interface FindNode {
  id: string;
  text: string;
  leaf: number | boolean;
  expandable: number | boolean;
  allowChildren?: number | boolean;
}

export interface CatalogSeries {
  id: number;
  name: string;
  kind: string;
  tags: string[];
  first_seen: string;
  last_seen: string;
}

export interface ListedEvent {
  id: number;
  when: number;
  what: string;
  data: string;
  tags: string[];
}

export interface FunctionParameter {
  name: string;
  type: string;
  required: boolean;
  multiple?: boolean;
  options?: string[];
}

export interface FunctionDescription {
  name: string;
  group: string;
  description: string;
  params: FunctionParameter[];
}

let functionsCache: Promise<FunctionDescription[]> | null = null;

/** /functions, fetched once per page load. */
export function functionList(): Promise<FunctionDescription[]> {
  functionsCache ??= getJson<Record<string, FunctionDescription>>("functions")
    .then((map) => Object.values(map).sort((a, b) => a.name.localeCompare(b.name)))
    .catch((error: unknown) => {
      functionsCache = null;
      throw error;
    });
  return functionsCache;
}

/** A graph a user viewed, as `api/v1/graphs` answers it. */
export interface SavedGraph {
  id: number;
  owner: string;
  name: string | null;
  starred: boolean;
  targets: string[];
  from: string;
  until: string;
  created_at: string;
  viewed_at: string;
}

/** A saved dashboard: the export JSON with its id, owner and times. */
export interface SavedDashboard {
  id: number;
  owner: string;
  title: string;
  from: string;
  until: string;
  graphs: { title: string; targets: string[] }[];
  created_at: string;
  updated_at: string;
}

export interface TokenAnswer {
  id: number;
  name: string;
  scope: string;
  user: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}
