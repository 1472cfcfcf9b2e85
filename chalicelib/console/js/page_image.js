// #/images/<name>: the image's fields, manifest and digests, VMs using it, its tasks; update
// (PUT, only the fields changed) and delete, both conditional on the ETag read here.
import { h, clear, table, link, showAlert } from "./dom.js";
import * as api from "./api.js";
import * as session from "./session.js";
import { field, onSubmit, report, values } from "./forms.js";
import { ACCESS, OSTYPE, STATUS } from "./page_images.js";

const FIELDS = ["name", "uuid", "alias", "version", "owner", "access", "desc", "ostype", "size",
  "resize", "deploy", "tags", "status", "created", "dc_bound", "dcs", "sha1", "sha256", "signed_by"];
const EDITABLE = ["alias", "version", "access", "desc", "owner", "tags", "resize", "deploy"];
const LOG_PAGES = 3; // task-log pages (of 100) searched for this image's tasks

function shown(key, value) {
  if (value === undefined || value === null || value === "") return "—";
  if (key === "access") return `${ACCESS[value] || value} (${value})`;
  if (key === "ostype") return `${OSTYPE[value] || value} (${value})`;
  if (key === "status") return `${STATUS[value] || value} (${value})`;
  if (Array.isArray(value)) return value.join(", ") || "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

/** Public and Private, which a client may set, and the image's own access if it is another
 * (Disabled, Internal): saving an unrelated change must not move it to the first option. */
function accessOptions(current) {
  const options = [[1, "Public"], [3, "Private"]];
  if (current != null && !options.some(([value]) => String(value) === String(current))) {
    options.unshift([current, `${ACCESS[current] || current} (unchanged)`]);
  }
  return options;
}

function digests(image) {
  const file = image.manifest?.files?.[0] || {};
  return { ...image, sha1: image.sha1 ?? file.sha1, sha256: image.sha256 ?? file.sha256,
    signed_by: image.signed_by ?? image.manifest?.tags?.signed_by };
}

async function imageTasks(name, dc) {
  const rows = [];
  let cursor = "";
  for (let page = 0; page < LOG_PAGES; page += 1) {
    const answer = await api.get("task/log", { dc, limit: 100, cursor });
    rows.push(...(api.resultOf(answer) || []).filter((entry) => entry.object_name === name));
    cursor = answer.headers.get("es_next") || "";
    if (!cursor) break;
  }
  return rows;
}

export async function imagePage(main, { name }) {
  const route = `image/${encodeURIComponent(name)}`;
  const answer = await api.get(route, { extended: "true" });
  const etag = answer.headers.get("ETag");
  const record = api.resultOf(answer);
  // the manifest as the store holds it (the compute nodes' image source, GET /images/<uuid>,
  // which a user's token may read too): its files[0] has the SHA-1 and SHA-256
  let manifestNote = "";
  if (!record.manifest && record.uuid) {
    try {
      record.manifest = api.resultOf(await api.get(`images/${encodeURIComponent(record.uuid)}`));
    } catch (error) {
      if (error.status === 401) throw error;
      manifestNote = error.message;
    }
  }
  const image = digests(record);
  main.append(h("h1", {}, `Image ${image.name}`));

  const dl = h("dl", { id: "image-fields", class: "fields" });
  for (const key of FIELDS) {
    if (!(key in image) && !["sha1", "sha256", "signed_by"].includes(key)) continue;
    dl.append(h("dt", {}, key), h("dd", { "data-field": key }, shown(key, image[key])));
  }
  const manifest = image.manifest ? JSON.stringify(image.manifest, null, 2) : manifestNote;
  const vms = h("div", { id: "image-vms" }, h("p", {}, "Loading…"));
  const tasks = h("div", { id: "image-tasks" }, h("p", {}, "Loading…"));

  const form = h("form", { id: "image-update-form", class: "stack", novalidate: true },
    field("alias", "Alias", { value: image.alias }),
    field("version", "Version", { value: image.version }),
    field("access", "Access", { kind: "select", value: image.access,
      options: accessOptions(image.access) }),
    field("desc", "Description", { value: image.desc }),
    field("owner", "Owner", { value: image.owner }),
    field("tags", "Tags", { value: (image.tags || []).join(","), hint: "Comma separated." }),
    field("resize", "Resizable", { kind: "checkbox", value: image.resize }),
    field("deploy", "Deploy", { kind: "checkbox", value: image.deploy }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save changes")));
  const remove = h("button", { id: "image-delete", type: "button", class: "danger" }, "Delete image");

  main.append(
    h("div", { class: "grid2" },
      h("section", {}, h("h2", {}, "Fields"), dl),
      h("section", {}, h("h2", {}, "Manifest"), h("pre", { id: "image-manifest" }, manifest))),
    h("h2", {}, "VMs using it"), vms,
    h("h2", {}, "Its tasks"), tasks,
    h("h2", {}, "Update"), form,
    h("h2", {}, "Delete"), h("p", { class: "hint" }, "Refused while VMs use the image."), remove);

  onSubmit(form, async () => {
    const now = values(form, { keepEmpty: ["desc"] });
    const changed = {};
    for (const key of EDITABLE) {
      const before = key === "tags" ? (image.tags || []).join(",") : image[key];
      if (key in now && String(now[key]) !== String(before ?? "")) changed[key] = now[key];
    }
    if (!Object.keys(changed).length) { showAlert("Nothing changed.", "info"); return; }
    const done = await api.put(route, changed, { headers: etag ? { "If-Match": etag } : {} });
    if (done.status === 201) { location.hash = `#/tasks/${done.body.task_id}`; return; }
    showAlert("Saved.", "info");
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  });

  remove.addEventListener("click", async () => {
    if (!window.confirm(`Delete the image ${image.name}? Its files are removed from the store.`)) return;
    try {
      const done = await api.del(route, undefined, { headers: etag ? { "If-Match": etag } : {} });
      if (done.status === 201) location.hash = `#/tasks/${done.body.task_id}`;
      else { location.hash = "#/images"; showAlert(`Image ${image.name} deleted.`, "info"); }
    } catch (error) { report(error); }
  });

  try {
    const used = api.resultOf(await api.get(`${route}/vm`)) || [];
    clear(vms, used.length ? h("ul", {}, used.map((vm) => h("li", {}, typeof vm === "string" ? vm : vm.hostname)))
      : h("p", {}, "No VM uses this image."));
  } catch (error) { clear(vms, h("p", {}, error.message)); }
  try {
    const dc = image.dcs?.[0] || session.dc();
    const rows = await imageTasks(image.name, dc);
    clear(tasks, rows.length ? table("image-tasks-table", ["Time", "Task", "Status", "Message"],
      rows.map((entry) => h("tr", { "data-task": entry.task },
        h("td", {}, entry.time), h("td", {}, link(`#/tasks/${encodeURIComponent(entry.task)}`, entry.task)),
        h("td", {}, entry.status), h("td", {}, entry.msg))))
      : h("p", {}, `No task of this image in the log of ${dc}.`));
  } catch (error) { clear(tasks, h("p", {}, error.message)); }
}
