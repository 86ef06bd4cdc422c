// Who is signed in, and the CSRF token every state-changing request repeats.
//
// The session itself is an HttpOnly cookie no script can read; `GET api/v1/session` says whose
// it is and returns its CSRF token. The app asks once per page load, and only when this browser
// signed in before (a flag in localStorage) or a sign-in proxy signed it in (the open
// `GET api/v1/session/methods` says whether a trusted proxy named a user): without a session the answer
// is a 401, which a browser logs as an error, and most visitors of an open Abacus never sign
// in. A user the proxy signs in never posts a sign-in; `credential` is then "proxy", and the
// CSRF token is the user's own for requests through the proxy.
import { getJson, sendJson } from "./api.ts";

export interface Session {
  user: string;
  admin: boolean;
  credential: string;
  scope: string;
  csrf_token?: string | null;
  expires_at?: string | null;
}

const SIGNED_IN_FLAG = "abacus.signedIn";
let current: Promise<Session | null> | null = null;

function remember(signedIn: boolean) {
  try {
    if (signedIn) localStorage.setItem(SIGNED_IN_FLAG, "1");
    else localStorage.removeItem(SIGNED_IN_FLAG);
  } catch {
    // storage disabled: the app then asks only after a sign-in on this page
  }
}

function signedInBefore(): boolean {
  try {
    return localStorage.getItem(SIGNED_IN_FLAG) === "1";
  } catch {
    return false;
  }
}

interface SignInMethods {
  password: boolean;
  proxy: boolean;
  proxy_names_caller: boolean;
}

async function askSession(): Promise<Session | null> {
  if (signedInBefore()) {
    try {
      return await getJson<Session>("api/v1/session");
    } catch {
      remember(false);
    }
  }
  const methods = await getJson<SignInMethods>("api/v1/session/methods").catch(() => null);
  if (!methods?.proxy_names_caller) return null;
  return getJson<Session>("api/v1/session").catch(() => null);
}

/** The signed-in session, or null; asked of the API once per page load. */
export function currentSession(): Promise<Session | null> {
  current ??= askSession();
  return current;
}

/** Whether the sign-in proxy signed this browser in (there is then nothing to sign out of here). */
export function signedInByProxy(session: Session | null): boolean {
  return session?.credential === "proxy";
}

/** The CSRF token of the current session, if there is one (for `X-Abacus-CSRF`). */
let csrfToken: string | null = null;
export function csrfHeader(): Record<string, string> {
  return csrfToken ? { "X-Abacus-CSRF": csrfToken } : {};
}

function adopt(session: Session | null): Session | null {
  csrfToken = session?.csrf_token ?? null;
  return session;
}

/** Resolves the session before the first state-changing request needs its CSRF token. */
export async function loadSession(): Promise<Session | null> {
  return adopt(await currentSession());
}

export async function signIn(user: string, password: string): Promise<Session> {
  const session = await sendJson<Session>("POST", "api/v1/session", { user, password });
  adopt(session);
  remember(true);
  current = Promise.resolve(session);
  return session;
}

export async function signOut(): Promise<void> {
  try {
    await sendJson("DELETE", "api/v1/session");
  } finally {
    adopt(null);
    remember(false);
    current = Promise.resolve(null);
  }
}
