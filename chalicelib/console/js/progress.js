// Live progress of a task: its status word, bytes done of total, and a rate and an ETA from
// successive readings (the task view's `progress`, or an upload's own byte count).
import { h, formatBytes, formatDuration, statusWord, clear, showAlert } from "./dom.js";
import * as api from "./api.js";

const WINDOW_MS = 15000; // the rate is measured over the last readings within this window

export class RateMeter {
  constructor(now = () => performance.now()) { this.now = now; this.readings = []; }
  add(bytesDone) {
    const t = this.now();
    const last = this.readings[this.readings.length - 1];
    if (last && bytesDone < last.bytes) this.readings = []; // restarted (a retried run)
    this.readings.push({ t, bytes: bytesDone });
    while (this.readings.length > 2 && t - this.readings[0].t > WINDOW_MS) this.readings.shift();
  }
  // Bytes per second, or null before two readings some time apart.
  rate() {
    if (this.readings.length < 2) return null;
    const first = this.readings[0], last = this.readings[this.readings.length - 1];
    const seconds = (last.t - first.t) / 1000;
    return seconds > 0 ? (last.bytes - first.bytes) / seconds : null;
  }
  eta(total) {
    const rate = this.rate();
    const done = this.readings[this.readings.length - 1]?.bytes ?? 0;
    if (!rate || rate <= 0 || !total) return null;
    return Math.max(0, total - done) / rate;
  }
}

// The progress block of the contract: #task-status, #task-progress, #task-rate, #task-eta,
// #task-message. Returns an object whose `show(...)` updates it.
export function progressBlock() {
  const status = h("span", { id: "task-status", class: "status" }, "PENDING");
  const bar = h("progress", { id: "task-progress", max: 100, "aria-label": "Progress" });
  const step = h("span", { id: "task-step" });
  const bytes = h("span", { id: "task-bytes" });
  const rate = h("span", { id: "task-rate" }, "—");
  const eta = h("span", { id: "task-eta" }, "—");
  const message = h("p", { id: "task-message", "aria-live": "polite" });
  const meter = new RateMeter();
  let lastTotal = null;  // the task's size as last seen: a finished task shows all of it done
  const root = h("section", { "aria-label": "Progress", class: "progress" },
    h("p", {}, "Status: ", status, " ", step),
    bar,
    h("p", {}, bytes, " · Rate: ", rate, " · ETA: ", eta),
    message);
  return {
    root,
    show({ word, done, total, percent, stepName, text }) {
      if (word) { clear(status, word); status.className = `status status-${word}`; }
      if (stepName !== undefined) step.textContent = stepName ? `(${stepName})` : "";
      if (total) lastTotal = total;
      if (done !== undefined && done !== null) {
        meter.add(done);
        const pct = percent ?? (total ? (100 * done) / total : null);
        if (pct !== null && pct !== undefined) bar.value = Math.min(100, pct);
        bytes.textContent = `${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ""}`;
        const r = meter.rate();
        rate.textContent = r === null || (r === 0 && !done) ? "—" : `${formatBytes(r)}/s`;
        eta.textContent = word && word !== "PENDING" ? "—" : formatDuration(meter.eta(total));
      }
      if (word && word !== "PENDING") eta.textContent = "—";  // ended: nothing left to wait for
      if (word === "SUCCESS") {
        bar.value = 100;
        if (lastTotal) bytes.textContent = `${formatBytes(lastTotal)} of ${formatBytes(lastTotal)}`;
      }
      if (text !== undefined) message.textContent = text;
    },
  };
}

const ENDED = new Set(["SUCCESS", "FAILURE", "REVOKED"]);

// Polls a task until it ends: GET /task/<id>/status/ for the word, GET /task/<id>/ for the
// progress while it runs. Returns a stop function.
export function watchTask(taskId, block, { every = 1000, onEnd } = {}) {
  let stopped = false;
  let timer = null;
  async function tick() {
    if (stopped) return;
    try {
      const answer = await api.get(`task/${encodeURIComponent(taskId)}/status`, null, { ok: [400, 410] });
      const word = answer.body?.status || (answer.status === 410 ? "REVOKED" : "");
      const result = answer.body?.result;
      if (ENDED.has(word)) {
        const text = result?.message || result?.detail || (word === "REVOKED" ? "The task was canceled." : "");
        block.show({ word, text, stepName: "" });
        onEnd?.(word, answer.body);
        return;
      }
      const detail = await api.get(`task/${encodeURIComponent(taskId)}`);
      const progress = api.resultOf(detail)?.progress || {};
      block.show({ word: word || "PENDING", done: progress.bytes_done ?? 0, total: progress.bytes_total,
        percent: progress.percent, stepName: progress.step || "" });
    } catch (error) {
      showAlert(error.message);  // errors are never lost: the API's detail, or the network's
      if (error.status === 404 || error.status === 403 || error.status === 401) return;
    }
    if (!stopped) timer = setTimeout(tick, every);
  }
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

export { statusWord };
