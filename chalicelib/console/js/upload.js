// The upload protocol (SPEC §4.13) in the browser: the parts go straight to the store's
// presigned URLs, several at once; what the store holds is asked for first, so a reload
// resumes where it stopped (the task id and the file's identity are kept in localStorage).
import * as api from "./api.js";

const MiB = 1 << 20;
const IN_FLIGHT = 4;   // parts being PUT at once
const URL_BATCH = 8;   // part URLs asked for per call (they expire: ask shortly before use)
const ATTEMPTS = 3;    // per part, for network failures and expired URLs
const KEY = "imageapi-upload";

// Parts of 8 MiB (S3: every part but the last ≥ 5 MiB), larger when a file needs more than
// S3's 10000 parts.
export function partSize(size) {
  return Math.max(8 * MiB, Math.ceil(size / 10000 / MiB) * MiB);
}

export function saved() {
  try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch { return null; }
}

export function remember(record) { localStorage.setItem(KEY, JSON.stringify(record)); }
export function forget() { localStorage.removeItem(KEY); }

export function sameFile(record, file) {
  return Boolean(record && file && record.file.name === file.name && record.file.size === file.size
    && record.file.lastModified === file.lastModified);
}

export function recordFor(taskId, image, file) {
  return { task_id: taskId, image, part_size: partSize(file.size),
    file: { name: file.name, size: file.size, lastModified: file.lastModified } };
}

function putPart(url, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve()
      : reject(Object.assign(new Error(`The store refused part (HTTP ${xhr.status}): ${
        (xhr.responseText.match(/<Message>([^<]*)</) || [])[1] || xhr.statusText}`), { status: xhr.status })));
    xhr.onerror = () => reject(new Error("The store cannot be reached (network error or CORS)."));
    xhr.send(blob);
  });
}

// Sends what the store does not hold yet; onBytes(bytesHeld) as parts progress.
export async function sendParts(record, file, onBytes) {
  const task = encodeURIComponent(record.task_id);
  const size = record.part_size;
  const count = Math.max(1, Math.ceil(file.size / size));
  const expected = (n) => Math.min(size, file.size - (n - 1) * size);
  const listing = api.resultOf(await api.get(`task/${task}/upload`)) || {};
  const held = new Set((listing.parts || []).filter((p) => p.size === expected(p.number)).map((p) => p.number));
  const todo = [];
  for (let n = 1; n <= count; n += 1) if (!held.has(n)) todo.push(n);
  let doneBytes = [...held].reduce((sum, n) => sum + expected(n), 0);
  const moving = new Map();
  const report = () => onBytes(doneBytes + [...moving.values()].reduce((a, b) => a + b, 0));
  report();
  const urls = new Map();
  async function urlOf(number, fresh) {
    if (fresh || !urls.has(number)) {
      const wanted = [number, ...todo.slice(0, URL_BATCH - 1)];
      const answer = await api.post(`task/${task}/upload`, { parts: wanted });
      for (const [n, url] of Object.entries(answer.body.parts)) urls.set(Number(n), url);
    }
    return urls.get(number);
  }
  async function worker() {
    while (todo.length) {
      const number = todo.shift();
      const blob = file.slice((number - 1) * size, (number - 1) * size + expected(number));
      for (let attempt = 1; ; attempt += 1) {
        try {
          const url = await urlOf(number, attempt > 1);
          await putPart(url, blob, (loaded) => { moving.set(number, loaded); report(); });
          break;
        } catch (error) {
          moving.delete(number);
          if (error instanceof api.ApiError || attempt >= ATTEMPTS) throw error;
        }
      }
      moving.delete(number);
      urls.delete(number);
      doneBytes += expected(number);
      report();
    }
  }
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, todo.length) }, worker));
  return api.post(`task/${task}/upload/complete`, {});
}
