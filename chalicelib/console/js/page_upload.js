// #/upload: an image from a local file. POST /image/<name>/ with the manifest and upload:true,
// then the parts straight to the store (upload.js), then .../upload/complete/ and the task's
// verification. Without a manifest one is built here, with the file's SHA-1 computed in the
// browser (sha1.js), as `imagectl image upload` builds one.
import { h, clear, showAlert } from "./dom.js";
import * as api from "./api.js";
import * as session from "./session.js";
import { dcOptions, field, onSubmit, required } from "./forms.js";
import { progressBlock, watchTask } from "./progress.js";
import { onLeave } from "./router.js";
import { sha1OfFile } from "./sha1.js";
import * as upload from "./upload.js";

const COMPRESSIONS = { gz: "gzip", bz2: "bzip2", xz: "xz" };

function newUuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

async function builtManifest(name, file, block) {
  block.show({ word: "PENDING", stepName: "computing the file's SHA-1", done: 0, total: file.size });
  const sha1 = await sha1OfFile(file, (done) => block.show({ done, total: file.size }));
  const ext = file.name.split(".").pop().toLowerCase();
  const zone = /\.zfs(\.|$)/.test(file.name);
  return {
    v: 2, uuid: newUuid(), owner: "00000000-0000-0000-0000-000000000000", name, version: "1.0",
    state: "active", disabled: false, public: true, published_at: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    type: zone ? "zone-dataset" : "zvol", os: zone ? "smartos" : "linux",
    description: `${file.name} (console upload)`,
    files: [{ sha1, size: file.size, compression: COMPRESSIONS[ext] || "none" }],
  };
}

export function uploadPage(main) {
  const dcs = session.current()?.dcs || [];
  const pending = upload.saved();
  const form = h("form", { id: "upload-form", class: "stack", novalidate: true },
    field("name", "Image name", { value: pending?.image || "" }),
    field("file", "Image file", { kind: "file" }),
    field("manifest_file", "Manifest file (optional)", { kind: "file", attrs: { accept: ".json,application/json" } }),
    field("manifest", "Manifest (JSON, optional)", { kind: "textarea",
      hint: "Empty: built from the file (its SHA-1 is computed here, which reads the whole file once)." }),
    field("dc", "Datacenter", { kind: "select", options: dcOptions(dcs), value: session.dc() }),
    field("signature", "Signature (minisign, optional)", { kind: "textarea" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, pending ? "Resume upload" : "Upload")));
  const notice = h("div", { id: "upload-resume" });
  const block = progressBlock();
  block.root.hidden = true;
  main.append(h("h1", {}, "Upload an image file"), notice, form, block.root);
  let stopWatch = null;
  onLeave(() => stopWatch?.());

  if (pending) {
    const drop = h("button", { type: "button", class: "secondary", id: "upload-forget" }, "Forget it");
    drop.addEventListener("click", () => { upload.forget(); window.dispatchEvent(new HashChangeEvent("hashchange")); });
    clear(notice, h("p", {}, `An upload of ${pending.file.name} (${pending.file.size} bytes) for image `,
      h("strong", {}, pending.image), ` (task ${pending.task_id}) was interrupted. Pick the same file to resume it. `), drop);
  }
  form.elements.manifest_file.addEventListener("change", async () => {
    const picked = form.elements.manifest_file.files[0];
    if (picked) form.elements.manifest.value = await picked.text();
  });

  onSubmit(form, async () => {
    const file = form.elements.file.files[0];
    const name = form.elements.name.value.trim();
    const record = upload.saved();
    block.root.hidden = false;
    let current;
    if (record && upload.sameFile(record, file)) {
      current = record;  // resume: the task exists, the store holds some parts
    } else {
      if (!required(form, "name") || !required(form, "file")) return;
      const text = form.elements.manifest.value.trim();
      const body = { upload: true, dc: form.elements.dc.value,
        manifest: text || await builtManifest(name, file, block) };
      const signature = form.elements.signature.value.trim();
      if (signature) body.signature = signature;
      const answer = await api.post(`image/${encodeURIComponent(name)}`, body);
      current = upload.recordFor(answer.body.task_id, name, file);
      upload.remember(current);
    }
    block.show({ word: "PENDING", stepName: "uploading", done: 0, total: file.size, text: "" });
    try {
      await upload.sendParts(current, file, (done) => block.show({ done, total: file.size }));
    } catch (error) {
      if (error.status === 410 || error.status === 404) upload.forget(); // the task has ended
      throw error;
    }
    upload.forget();
    block.show({ stepName: "verifying" });
    showAlert(`Uploaded. Task ${current.task_id} verifies the file.`, "info");
    stopWatch = watchTask(current.task_id, block);
  });
}
