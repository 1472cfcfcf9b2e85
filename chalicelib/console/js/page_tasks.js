// #/tasks: the caller's running tasks (GET /task/); #/tasks/<id>: one task's status and live
// progress with rate and ETA, and its cancel button (PUT /task/<id>/cancel/).
import { h, clear, table, link, formatBytes, showAlert } from "./dom.js";
import * as api from "./api.js";
import { report } from "./forms.js";
import { progressBlock, watchTask } from "./progress.js";
import { onLeave } from "./router.js";

export async function tasksPage(main) {
  main.append(h("h1", {}, "Running tasks"));
  const ids = api.resultOf(await api.get("task")) || [];
  const rows = await Promise.all(ids.map(async (id) => {
    try { return api.resultOf(await api.get(`task/${encodeURIComponent(id)}`)); } catch { return { task_id: id }; }
  }));
  main.append(table("tasks-table", ["Task", "Operation", "Object", "Started", "Progress"],
    rows.map((task) => h("tr", { "data-task": task.task_id },
      h("td", {}, link(`#/tasks/${encodeURIComponent(task.task_id)}`, task.task_id)),
      h("td", {}, [task.method, task.view].filter(Boolean).join(" ")),
      h("td", {}, task.name || task.object_name || ""),
      h("td", {}, task.time || ""),
      h("td", {}, task.progress?.bytes_total
        ? `${formatBytes(task.progress.bytes_done)} of ${formatBytes(task.progress.bytes_total)}` : "")))));
  if (!rows.length) main.append(h("p", {}, "No running task. Finished ones are in the task log."));
}

export async function taskPage(main, { id }) {
  main.append(h("h1", {}, `Task ${id}`));
  const about = h("p", { id: "task-about" });
  const block = progressBlock();
  const cancel = h("button", { id: "task-cancel", type: "button", class: "danger" }, "Cancel task");
  main.append(about, block.root, h("div", { class: "actions" }, cancel,
    link("#/log", "Task log")));
  // listening before the first await: the button is on the page (and clickable) from here
  cancel.addEventListener("click", async () => {
    if (!window.confirm("Cancel this task? Its work is rolled back.")) return;
    cancel.disabled = true;
    try {
      // the answer is the task's status: 410 REVOKED once it has stopped
      await api.put(`task/${encodeURIComponent(id)}/cancel`, {}, { ok: [410] });
      showAlert("Cancel requested.", "info");
    } catch (error) { cancel.disabled = false; report(error); }
  });
  try {
    const task = api.resultOf(await api.get(`task/${encodeURIComponent(id)}`));
    clear(about, [task.method, task.view, task.name].filter(Boolean).join(" "), task.dc ? ` · DC ${task.dc}` : "");
  } catch (error) {
    if (error.status !== 404) report(error); // an ended task may have no running view any more
  }
  const stop = watchTask(id, block, { onEnd: () => { cancel.disabled = true; } });
  onLeave(stop);
}
