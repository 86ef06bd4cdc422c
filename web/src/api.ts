// Calls to the Abacus API. Errors carry the API's own message (`{"error": "…"}`).
import { href } from "./base.ts";

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

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(href(path), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const answer = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new ApiError(response.status, answer.error ?? response.statusText);
  return answer;
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
