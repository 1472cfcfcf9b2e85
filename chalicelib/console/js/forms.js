// Labelled controls named as the API fields they send, and the API's errors shown where they
// belong: next to the field they name, or in #alert.
import { h, showAlert, clearAlert } from "./dom.js";
import { ApiError } from "./api.js";

let counter = 0;

// kind: "text" (default), "number", "password", "url", "checkbox", "file", "textarea", "select".
export function field(name, label, { kind = "text", value, options, hint, required, attrs = {} } = {}) {
  const id = attrs.id || `f-${name}-${++counter}`;
  const errorId = `${id}-error`;
  let control;
  if (kind === "textarea") {
    control = h("textarea", { id, name, required, ...attrs }, value ?? "");
  } else if (kind === "select") {
    control = h("select", { id, name, required, ...attrs },
      (options || []).map(([optionValue, text]) =>
        h("option", { value: optionValue, selected: String(optionValue) === String(value ?? "") }, text)));
  } else {
    control = h("input", { id, name, type: kind, required, ...attrs });
    if (kind === "checkbox") control.checked = Boolean(value);
    else if (value !== undefined && value !== null) control.value = value;
  }
  // the error right after its control (the contract browser tests rely on), then the hint
  const parts = [h("label", { for: id }, label), control,
    h("p", { class: "field-error", "data-error-for": name, id: errorId })];
  if (hint) parts.push(h("p", { class: "hint" }, hint));
  return h("div", { class: "field" }, parts);
}

export function clearErrors(form) {
  clearAlert();
  for (const p of form.querySelectorAll(".field-error")) p.textContent = "";
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    control.removeAttribute("aria-describedby");
  }
}

// Shows an error from the API: field errors next to their fields, everything else in #alert.
export function report(error, form = null) {
  if (!(error instanceof ApiError)) { showAlert(String(error?.message || error)); return; }
  const fields = error.fields;
  if (!fields) { showAlert(error.message); return; }
  const elsewhere = [];
  let first = null;
  for (const [name, messages] of Object.entries(fields)) {
    const text = [].concat(messages).join(" ");
    const slot = form?.querySelector(`.field-error[data-error-for="${CSS.escape(name)}"]`);
    const control = form?.elements.namedItem(name);
    if (slot && name !== "non_field_errors") {
      slot.textContent = text;  // next to its field, even one made of several controls
      const target = control instanceof RadioNodeList ? control[0] : control;
      if (target) {
        target.setAttribute("aria-invalid", "true");
        target.setAttribute("aria-describedby", slot.id);
        first = first || target;
      }
    } else {
      elsewhere.push(name === "non_field_errors" ? text : `${name}: ${text}`);
    }
  }
  if (elsewhere.length) showAlert(elsewhere.join("\n"));
  first?.focus();
}

/** False (and the field's error shown, focus on it) when the control has no value: what the
 * console checks before a request whose URL needs the value (an image's name, the file). */
export function required(form, name) {
  const control = form.elements.namedItem(name);
  const empty = control.type === "file" ? !control.files.length : !control.value.trim();
  if (!empty) return true;
  form.querySelector(`[data-error-for="${CSS.escape(name)}"]`).textContent = "This field is required.";
  control.setAttribute("aria-invalid", "true");
  control.focus();
  return false;
}

// The form's values as the API wants them: empty text fields left out, checkboxes as booleans.
export function values(form, { keepEmpty = [] } = {}) {
  const out = {};
  for (const control of form.elements) {
    if (!control.name || control.type === "file" || control.type === "submit" || control.disabled) continue;
    if (control.type === "checkbox") { out[control.name] = control.checked; continue; }
    const value = control.value.trim();
    if (value !== "" || keepEmpty.includes(control.name)) out[control.name] = value;
  }
  return out;
}

// Runs `action` on submit with errors reported; the submit button is disabled meanwhile.
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try { await action(form); } catch (error) { report(error, form); } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}

export function dcOptions(names) { return names.map((name) => [name, name]); }
