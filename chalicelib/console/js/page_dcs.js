// #/dcs (SuperAdmins): the DCs; #/dcs/<name>: image limit, signed-only, trusted keys.
import { h, clear, table, link, showAlert } from "./dom.js";
import * as api from "./api.js";
import { field, onSubmit, report } from "./forms.js";

export async function dcsPage(main) {
  main.append(h("h1", {}, "Datacenters"));
  const dcs = api.resultOf(await api.get("dc", { full: "true" })) || [];
  main.append(table("dcs-table", ["Name", "Image limit", "Signed only", "Trusted keys"],
    dcs.map((dc) => h("tr", { "data-dc": dc.name },
      h("td", {}, link(`#/dcs/${encodeURIComponent(dc.name)}`, dc.name)),
      h("td", {}, dc.image_limit ?? "unlimited"), h("td", {}, dc.signed_only ? "yes" : "no"),
      h("td", {}, (dc.trusted_keys || []).length)))));
}

export async function dcPage(main, { name }) {
  const route = `dc/${encodeURIComponent(name)}`;
  const dc = api.resultOf(await api.get(route));
  main.append(h("h1", {}, `Datacenter ${dc.name}`));
  const form = h("form", { id: "dc-form", class: "stack", novalidate: true },
    field("image_limit", "Image limit", { kind: "number", value: dc.image_limit ?? "",
      attrs: { min: 0 }, hint: "Empty: unlimited." }),
    field("signed_only", "Accept signed images only", { kind: "checkbox", value: dc.signed_only }),
    h("div", {}, h("button", { type: "submit" }, "Save")));
  const keys = h("ul", { id: "dc-keys", class: "keys" });
  const keyForm = h("form", { id: "dc-key-form", class: "stack", novalidate: true },
    field("key", "Trust a minisign public key", { kind: "textarea",
      hint: "The public key file's text (its comment line and the key)." }),
    h("div", {}, h("button", { type: "submit" }, "Add key")));
  main.append(form, h("h2", {}, "Trusted keys"), keys, keyForm);

  function paintKeys(current) {
    clear(keys, (current.trusted_keys || []).map((key) => {
      const remove = h("button", { type: "button", class: "secondary", "aria-label": `Remove key ${key.key_id}` }, "Remove");
      remove.addEventListener("click", async () => {
        if (!window.confirm(`Stop trusting key ${key.key_id}?`)) return;
        try { paintKeys(api.resultOf(await api.del(`${route}/key/${encodeURIComponent(key.key_id)}`))); }
        catch (error) { report(error); }
      });
      return h("li", { "data-key-id": key.key_id }, h("code", {}, key.key_id), " ", key.comment || "", " ", remove);
    }));
    if (!(current.trusted_keys || []).length) keys.append(h("li", {}, "No trusted key."));
  }
  paintKeys(dc);

  onSubmit(form, async () => {
    const raw = form.elements.image_limit.value.trim();
    const body = { image_limit: raw === "" ? null : raw, signed_only: form.elements.signed_only.checked };
    api.resultOf(await api.put(route, body));
    showAlert("Saved.", "info");
  });
  onSubmit(keyForm, async () => {
    paintKeys(api.resultOf(await api.post(`${route}/key`, { key: keyForm.elements.key.value })));
    keyForm.reset();
    showAlert("Key added.", "info");
  });
}
