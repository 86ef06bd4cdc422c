// Sign in (`/signin?next=<app path>`): a user name and password for `POST api/v1/session`,
// then back to the page that sent the user here.
import { href, nextPath } from "../base.ts";
import { h } from "../dom.ts";
import { navigate, type Cleanup } from "../router.ts";
import { signIn, type Session } from "../session.ts";

export function renderSignIn(main: HTMLElement, search: string, session: Session | null): Cleanup {
  const user = h("input", { type: "text", id: "signin-user", name: "username", autocomplete: "username", required: true });
  const password = h("input", { type: "password", id: "signin-password", name: "password", autocomplete: "current-password", required: true });
  const status = h("p", { role: "status", class: "muted", id: "signin-status" });
  const form = h(
    "form",
    { class: "signin-form panel" },
    h("label", { for: "signin-user" }, "User name"),
    user,
    h("label", { for: "signin-password" }, "Password"),
    password,
    h("button", { type: "submit", class: "primary", id: "signin-submit" }, "Sign in"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "Signing in…";
    try {
      await signIn(user.value.trim(), password.value);
      navigate(nextPath(search));
    } catch (error) {
      status.textContent = `Cannot sign in: ${(error as Error).message}`;
      password.select();
    }
  });
  main.append(h("h1", {}, "Sign in"));
  if (session) main.append(h("p", {}, `You are signed in as ${session.user}. `, h("a", { href: href(""), "data-nav": true }, "Go to the metrics"), "."));
  main.append(
    form,
    h("p", { class: "muted" }, "Users are made with abacus-api user add <name>."),
  );
  queueMicrotask(() => user.focus());
  return () => {};
}
