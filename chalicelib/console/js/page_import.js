// #/import: POST /image/<name>/ with manifest_url (SPEC §4.3); 201 → the task's page.
import { h, showAlert } from "./dom.js";
import * as api from "./api.js";
import * as session from "./session.js";
import { dcOptions, field, onSubmit, required, values } from "./forms.js";

export const ACCESS_OPTIONS = [["", "(default: Private)"], [1, "Public"], [3, "Private"]];
export const OSTYPE_OPTIONS = [["", "(from the manifest)"], [1, "Linux VM"], [2, "SunOS VM"],
  [3, "BSD VM"], [4, "Windows VM"], [5, "SunOS Zone"], [6, "Linux Zone"]];

export function importPage(main) {
  const dcs = session.current()?.dcs || [];
  const form = h("form", { id: "import-form", class: "stack", novalidate: true },
    field("name", "Image name", { required: true }),
    field("manifest_url", "Manifest URL", { kind: "url", required: true,
      hint: "An IMGAPI manifest; the file is fetched from <manifest URL>/file." }),
    field("dc", "Datacenter", { kind: "select", options: dcOptions(dcs), value: session.dc() }),
    field("alias", "Alias", { hint: "Default: the name." }),
    field("version", "Version"),
    field("desc", "Description"),
    field("access", "Access", { kind: "select", options: ACCESS_OPTIONS }),
    field("ostype", "OS type", { kind: "select", options: OSTYPE_OPTIONS }),
    field("tags", "Tags", { hint: "Comma separated." }),
    field("signature_url", "Signature URL", { kind: "url", hint: "A minisign signature of the manifest (when the DC requires one)." }),
    h("div", {}, h("button", { type: "submit" }, "Import")));
  main.append(h("h1", {}, "Import an image from a URL"), form);
  onSubmit(form, async () => {
    const body = values(form);
    const name = body.name || "";
    delete body.name;
    if (!required(form, "name")) return;
    const answer = await api.post(`image/${encodeURIComponent(name)}`, body);
    if (answer.status === 201) location.hash = `#/tasks/${answer.body.task_id}`;
    else { showAlert(`Image ${name} created.`, "info"); location.hash = `#/images/${encodeURIComponent(name)}`; }
  });
}
