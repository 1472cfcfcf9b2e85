// #/login: POST /accounts/login/ → a token kept in sessionStorage; logout: GET /accounts/logout/.
import { h } from "./dom.js";
import * as api from "./api.js";
import * as session from "./session.js";
import { field, onSubmit } from "./forms.js";

export function loginPage(main) {
  const why = session.takeReason();
  const form = h("form", { id: "login-form", class: "stack", novalidate: true },
    field("username", "User name", { attrs: { autocomplete: "username" } }),
    field("password", "Password", { kind: "password", attrs: { autocomplete: "current-password" } }),
    h("div", {}, h("button", { type: "submit" }, "Log in")));
  main.append(h("h1", {}, "Log in"),
    h("p", { id: "login-reason", "aria-live": "polite" }, why), form);
  onSubmit(form, async () => {
    const username = form.elements.username.value.trim();
    const answer = await api.post("accounts/login", { username, password: form.elements.password.value });
    session.start(username, answer.body.token, answer.body.expires);
    location.hash = "#/images";
  });
  form.elements.username.focus();
}

export async function logout() {
  try {
    await api.get("accounts/logout");
  } finally {
    session.end("Logged out.");
    location.hash = "#/login";
  }
}
