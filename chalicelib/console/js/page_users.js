// #/users (SuperAdmins): the users; #/users/<name>: roles per DC and is_active.
import { h, table, link, showAlert } from "./dom.js";
import * as api from "./api.js";
import { field, onSubmit } from "./forms.js";

const ROLES = ["admin", "image_admin", "image_import_admin"];

export async function usersPage(main) {
  main.append(h("h1", {}, "Users"));
  const users = api.resultOf(await api.get("accounts/user", { full: "true" })) || [];
  main.append(table("users-table", ["User", "SuperAdmin", "Active", "Roles"],
    users.map((user) => h("tr", { "data-user": user.username },
      h("td", {}, link(`#/users/${encodeURIComponent(user.username)}`, user.username)),
      h("td", {}, user.is_super_admin ? "yes" : "no"), h("td", {}, user.is_active ? "yes" : "no"),
      h("td", {}, Object.entries(user.dc_roles || {}).map(([dc, roles]) => `${dc}: ${roles.join(", ")}`).join("; "))))));
}

export async function userPage(main, { name }) {
  const route = `accounts/user/${encodeURIComponent(name)}`;
  const user = api.resultOf(await api.get(route));
  const dcs = api.resultOf(await api.get("dc")) || [];
  main.append(h("h1", {}, `User ${user.username}`));
  const grid = dcs.map((dc) => h("fieldset", {}, h("legend", {}, `Roles in ${dc}`),
    ROLES.map((role) => {
      const id = `role-${dc}-${role}`;
      const box = h("input", { type: "checkbox", id, "data-dc": dc, "data-role": role });
      box.checked = (user.dc_roles?.[dc] || []).includes(role);
      return h("div", {}, box, " ", h("label", { for: id }, role));
    })));
  const form = h("form", { id: "user-form", class: "stack", novalidate: true },
    field("is_active", "Active (may log in and use keys)", { kind: "checkbox", value: user.is_active }),
    grid,
    h("p", { class: "field-error", "data-error-for": "dc_roles", id: "user-dc-roles-error" }),
    h("div", {}, h("button", { type: "submit" }, "Save")));
  main.append(user.is_super_admin ? h("p", {}, "A SuperAdmin: every check passes, whatever the roles.") : "", form);
  onSubmit(form, async () => {
    const roles = {};
    for (const box of form.querySelectorAll("input[data-role]")) {
      roles[box.dataset.dc] = roles[box.dataset.dc] || [];
      if (box.checked) roles[box.dataset.dc].push(box.dataset.role);
    }
    await api.put(route, { is_active: form.elements.is_active.checked, dc_roles: roles });
    showAlert("Saved.", "info");
  });
}
