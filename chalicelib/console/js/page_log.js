// #/log: the task log (GET /task/log/, newest first, paged). The API filters by DC and pages;
// status, user and object are filtered here on the page read.
import { h, clear, table, link } from "./dom.js";
import * as api from "./api.js";
import * as session from "./session.js";
import { dcOptions, field, report, values } from "./forms.js";

const STATUSES = [["", "(any)"], ["PENDING", "PENDING"], ["SUCCESS", "SUCCESS"], ["FAILURE", "FAILURE"],
  ["REVOKED", "REVOKED"]];

export async function logPage(main) {
  const dcs = session.current()?.dcs || [];
  const form = h("form", { id: "log-filters", class: "inline", novalidate: true },
    field("dc", "Datacenter", { kind: "select", options: dcOptions(dcs), value: session.dc() }),
    field("status", "Status", { kind: "select", options: STATUSES }),
    field("user", "User"),
    field("object_name", "Object"),
    field("limit", "Per page", { kind: "number", value: 50, attrs: { min: 1, max: 1000 } }),
    h("button", { type: "submit" }, "Filter"));
  const body = h("div", {});
  const prev = h("button", { id: "log-prev", type: "button", class: "secondary" }, "Previous");
  const next = h("button", { id: "log-next", type: "button", class: "secondary" }, "Next");
  main.append(h("h1", {}, "Task log"), form, body, h("div", { class: "pager" }, prev, next));
  let cursors = [""];
  let nextCursor = "";

  async function load() {
    const filters = values(form);
    prev.disabled = next.disabled = true;
    try {
      const answer = await api.get("task/log", { dc: filters.dc, limit: filters.limit,
        cursor: cursors[cursors.length - 1] });
      nextCursor = answer.headers.get("es_next") || "";
      const rows = (api.resultOf(answer) || []).filter((entry) =>
        (!filters.status || entry.status === filters.status)
        && (!filters.user || entry.user === filters.user)
        && (!filters.object_name || String(entry.object_name || "").includes(filters.object_name)));
      clear(body, table("log-table", ["Time", "Status", "User", "Object", "Message", ["Task", "wide"], ["Detail", "wide"]],
        rows.map((entry) => h("tr", { "data-task": entry.task },
          h("td", {}, entry.time), h("td", {}, entry.status), h("td", {}, entry.user),
          h("td", {}, entry.object_name ? link(`#/images/${encodeURIComponent(entry.object_name)}`, entry.object_name) : ""),
          h("td", {}, entry.msg), h("td", { class: "wide" }, link(`#/tasks/${encodeURIComponent(entry.task)}`, entry.task)),
          h("td", { class: "wide" }, entry.detail)))));
      if (!rows.length) body.append(h("p", {}, "No entries on this page."));
      prev.disabled = cursors.length < 2;
      next.disabled = !nextCursor;
    } catch (error) { report(error, form); }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); cursors = [""]; load(); });
  next.addEventListener("click", () => { if (nextCursor) { cursors.push(nextCursor); load(); } });
  prev.addEventListener("click", () => { if (cursors.length > 1) { cursors.pop(); load(); } });
  await load();
}
