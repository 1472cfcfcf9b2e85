// The hash router: `#/images/<name>` → the page registered for `images/:name`.
import { $, clear, clearAlert } from "./dom.js";
import * as session from "./session.js";
import { report } from "./forms.js";

const routes = [];
let cleanup = null;
let beforeEach = async () => {};

/** `fn(open)` runs, awaited, before every page renders (the shell: who is logged in, DCs). */
export function beforeRender(fn) { beforeEach = fn; }

export function route(pattern, render, { open = false } = {}) {
  const parts = pattern.split("/");
  routes.push({ parts, render, open });
}

function match(path) {
  const parts = path.split("/").filter(Boolean);
  for (const candidate of routes) {
    if (candidate.parts.length !== parts.length) continue;
    const params = {};
    const fits = candidate.parts.every((part, i) => {
      if (part.startsWith(":")) {
        try { params[part.slice(1)] = decodeURIComponent(parts[i]); } catch { return false; }
        return true;  // (a broken escape such as %E0 matches no route: the images page)
      }
      return part === parts[i];
    });
    if (fits) return { ...candidate, params };
  }
  return null;
}

export function onLeave(fn) { cleanup = fn; }

export async function render() {
  if (cleanup) { try { cleanup(); } catch { /* a page's timers only */ } cleanup = null; }
  const path = location.hash.replace(/^#\/?/, "") || "images";
  const found = match(path.split("?")[0]);
  if (!found) { location.hash = "#/images"; return; }
  if (!found.open && !session.token()) { location.hash = "#/login"; return; }
  clearAlert();
  const main = $("#main");
  clear(main);
  for (const a of document.querySelectorAll("#nav a")) {
    const current = path === a.getAttribute("href").slice(2) || path.startsWith(a.getAttribute("href").slice(2) + "/");
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  main.focus({ preventScroll: true });
  try {
    await beforeEach(found.open);  // a page reads the DC select: it is filled first
    await found.render(main, found.params);
  } catch (error) { report(error); }
}

export function start() {
  window.addEventListener("hashchange", render);
  render();
}
