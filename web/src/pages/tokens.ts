// Tokens (`/tokens`): a signed-in user lists, creates and revokes their own API tokens (for
// Grafana, scripts); an admin sees and manages everyone's. A new token's secret is shown once.
import { ApiError, getJson, sendJson, type TokenAnswer } from "../api.ts";
import { href } from "../base.ts";
import { h } from "../dom.ts";
import type { Cleanup } from "../router.ts";
import type { Session } from "../session.ts";

function when(text: string | null): string {
  return text ? new Date(text).toLocaleString() : "–";
}

export function renderTokens(main: HTMLElement, _search: string, session: Session | null): Cleanup {
  main.append(h("h1", {}, "Tokens"));
  if (!session) {
    main.append(h("p", {}, h("a", { href: href("signin", new URLSearchParams({ next: href("tokens") })), "data-nav": true }, "Sign in"), " to manage your tokens."));
    return () => {};
  }
  const status = h("p", { role: "status", class: "muted", id: "tokens-status" });
  const created = h("div", { id: "new-token", "aria-live": "polite" });
  const body = h("tbody");
  const table = h(
    "table",
    { class: "tokens", id: "token-table" },
    h("thead", {}, h("tr", {}, ...["Name", "User", "Scope", "Created", "Last used", "Expires", ""].map((title) => h("th", { scope: "col" }, title)))),
    body,
  );

  const name = h("input", { type: "text", id: "token-name", required: true, placeholder: "grafana" });
  const scopes = session.admin ? ["read", "write", "admin"] : ["read", "write"];
  const scope = h("select", { id: "token-scope" }, ...scopes.map((one) => h("option", { value: one }, one)));
  const expires = h("input", { type: "text", id: "token-expires", placeholder: "never (or 90d, 12h)", size: 14 });
  const owner = session.admin ? h("input", { type: "text", id: "token-user", placeholder: session.user, size: 12 }) : null;
  const form = h(
    "form",
    { class: "toolbar" },
    h("label", { class: "inline" }, "Name ", name),
    h("label", { class: "inline" }, "Scope ", scope),
    h("label", { class: "inline" }, "Expires in ", expires),
    owner ? h("label", { class: "inline" }, "For user ", owner) : null,
    h("button", { type: "submit", class: "primary", id: "token-create" }, "Create token"),
  );

  async function load() {
    try {
      const tokens = await getJson<TokenAnswer[]>("api/v1/tokens");
      body.replaceChildren(
        ...tokens.map((token) => {
          const revoke = h("button", { type: "button", "aria-label": `Revoke token ${token.name}` }, "Revoke");
          revoke.addEventListener("click", async () => {
            try {
              await sendJson("DELETE", `api/v1/tokens/${token.id}`);
              await load();
              status.textContent = `Revoked ${token.name}.`;
            } catch (error) {
              status.textContent = `Cannot revoke: ${(error as Error).message}`;
            }
          });
          return h(
            "tr",
            { "data-token": token.id },
            h("td", {}, token.name),
            h("td", {}, token.user),
            h("td", {}, token.scope),
            h("td", {}, when(token.created_at)),
            h("td", {}, when(token.last_used_at)),
            h("td", {}, when(token.expires_at)),
            h("td", {}, revoke),
          );
        }),
      );
      status.textContent = tokens.length === 0 ? "No tokens yet." : "";
    } catch (error) {
      status.textContent = `Cannot list tokens: ${(error as Error).message}`;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const request: Record<string, string> = { name: name.value.trim(), scope: scope.value };
    if (expires.value.trim()) request.expires_in = expires.value.trim();
    if (owner?.value.trim()) request.user = owner.value.trim();
    try {
      const answer = await sendJson<TokenAnswer & { token: string }>("POST", "api/v1/tokens", request);
      created.replaceChildren(
        h("p", {}, `Token ${answer.name} (${answer.scope}, for ${answer.user}): copy it now, it is not shown again.`),
        h("p", { class: "secret", id: "token-secret" }, answer.token),
      );
      name.value = "";
      await load();
    } catch (error) {
      status.textContent = `Cannot create the token: ${(error as ApiError).message}`;
    }
  });

  main.append(
    h("p", { class: "muted" }, session.admin ? "As an admin you see everyone's tokens." : "Your tokens, for Grafana and scripts (Authorization: Bearer <token>)."),
    form,
    created,
    status,
    table,
  );
  void load();
  return () => {};
}
