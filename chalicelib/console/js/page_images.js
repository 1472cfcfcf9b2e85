// #/images: the catalogue, sorted by the API's order_by and paged with limit/cursor (es_next).
// A search (name, alias or uuid) walks the same pages and keeps the images that match.
import { h, clear, table, link } from "./dom.js";
import * as api from "./api.js";
import { field, report } from "./forms.js";

const ORDERS = [["name", "Name (A–Z)"], ["-name", "Name (Z–A)"], ["created", "Oldest first"],
  ["-created", "Newest first"]];
const SIZES = [["20", "20"], ["50", "50"], ["100", "100"]];
const SCAN_PAGE = 100;     // images per API call while searching
const SCAN_LIMIT = 50;     // API pages one search step reads at most before it shows what it has
export const ACCESS = { 1: "Public", 2: "Disabled", 3: "Private", 4: "Deleted", 9: "Internal" };
export const OSTYPE = { 1: "Linux VM", 2: "SunOS VM", 3: "BSD VM", 4: "Windows VM", 5: "SunOS Zone", 6: "Linux Zone" };
export const STATUS = { 1: "ok", 2: "pending" };

const state = { search: "", order: "name", limit: "20", cursors: [""], scanned: 0 };

function matches(image, needle) {
  return [image.name, image.alias, image.uuid].some((v) => String(v || "").toLowerCase().includes(needle));
}

async function fetchPage(cursor) {
  const params = { full: "true", order_by: state.order, cursor };
  const needle = state.search.trim().toLowerCase();
  const limit = Number(state.limit);
  if (!needle) {
    const answer = await api.get("image", { ...params, limit });
    return { images: api.resultOf(answer) || [], next: answer.headers.get("es_next") || "" };
  }
  // Searching: the API has no search parameter; walk its pages in order and keep matches.
  const found = [];
  let next = cursor;
  let pages = 0;
  do {
    const answer = await api.get("image", { ...params, cursor: next, limit: SCAN_PAGE });
    const page = api.resultOf(answer) || [];
    next = answer.headers.get("es_next") || "";
    state.scanned += page.length;
    for (const image of page) if (matches(image, needle)) found.push(image);
    pages += 1;
  } while (next && found.length < limit && pages < SCAN_LIMIT);
  return { images: found, next };
}

export async function imagesPage(main) {
  const search = field("image-search", "Search (name, alias or uuid)",
    { kind: "search", value: state.search, attrs: { id: "image-search" } });
  const order = field("order_by", "Sort by", { kind: "select", options: ORDERS, value: state.order,
    attrs: { id: "image-order" } });
  const size = field("limit", "Per page", { kind: "select", options: SIZES, value: state.limit });
  const form = h("form", { class: "inline", role: "search" }, search, order, size,
    h("button", { type: "submit" }, "Show"));
  const body = h("div", {});
  const prev = h("button", { id: "images-prev", type: "button", class: "secondary" }, "Previous");
  const next = h("button", { id: "images-next", type: "button", class: "secondary" }, "Next");
  const where = h("span", { class: "hint", "aria-live": "polite" });
  main.append(h("h1", {}, "Images"), form, body, h("div", { class: "pager" }, prev, next, where));

  let nextCursor = "";
  async function load() {
    const cursor = state.cursors[state.cursors.length - 1];
    state.scanned = 0;
    prev.disabled = next.disabled = true;
    try {
      const page = await fetchPage(cursor);
      nextCursor = page.next;
      clear(body, table("images-table", ["Name", "Alias", "Version", ["UUID", "wide"], "OS", "Size (MB)", "Status", ["Created", "wide"]],
        page.images.map((image) => h("tr", { "data-name": image.name },
          h("td", {}, link(`#/images/${encodeURIComponent(image.name)}`, image.name)),
          h("td", {}, image.alias), h("td", {}, image.version), h("td", { class: "wide" }, image.uuid),
          h("td", {}, OSTYPE[image.ostype] || image.ostype), h("td", { class: "num" }, image.size),
          h("td", {}, STATUS[image.status] || image.status), h("td", { class: "wide" }, image.created)))));
      if (!page.images.length) body.append(h("p", {}, state.search ? "No image matches." : "No images."));
      where.textContent = `Page ${state.cursors.length}` + (state.search ? ` · ${state.scanned} images searched` : "");
      prev.disabled = state.cursors.length < 2;
      next.disabled = !nextCursor;
    } catch (error) {
      report(error);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.search = form.elements["image-search"].value;
    state.order = form.elements.order_by.value;
    state.limit = form.elements.limit.value;
    state.cursors = [""];
    load();
  });
  form.elements.order_by.addEventListener("change", () => form.requestSubmit());
  form.elements.limit.addEventListener("change", () => form.requestSubmit());
  next.addEventListener("click", () => { if (nextCursor) { state.cursors.push(nextCursor); load(); } });
  prev.addEventListener("click", () => { if (state.cursors.length > 1) { state.cursors.pop(); load(); } });
  await load();
}
