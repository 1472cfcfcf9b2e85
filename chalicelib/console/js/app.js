// The console's entry point: the shell (navigation, DC selector, logout) and the pages.
import { $, clear, h, showAlert } from "./dom.js";
import * as api from "./api.js";
import * as session from "./session.js";
import { beforeRender, route, start } from "./router.js";
import { loginPage, logout } from "./page_login.js";
import { imagesPage } from "./page_images.js";
import { imagePage } from "./page_image.js";
import { importPage } from "./page_import.js";
import { uploadPage } from "./page_upload.js";
import { tasksPage, taskPage } from "./page_tasks.js";
import { logPage } from "./page_log.js";
import { dcsPage, dcPage } from "./page_dcs.js";
import { usersPage, userPage } from "./page_users.js";

route("login", loginPage, { open: true });
route("images", imagesPage);
route("images/:name", imagePage);
route("import", importPage);
route("upload", uploadPage);
route("tasks", tasksPage);
route("tasks/:id", taskPage);
route("log", logPage);
route("dcs", dcsPage);
route("dcs/:name", dcPage);
route("users", usersPage);
route("users/:name", userPage);

// The caller's DCs (GET /dc/: only those they may see) and whether they are a SuperAdmin.
async function loadIdentity() {
  const me = session.current();
  if (!me || me.dcs) return;
  let dcs = [];
  let superAdmin = false;
  try {
    dcs = api.resultOf(await api.get("dc")) || [];
  } catch (error) {
    if (error.status === 401) return;
    // no DC list for this caller: the DC the API puts its requests in (es_dc)
    dcs = [error.headers?.get("es_dc")].filter(Boolean);
  }
  try {
    const user = api.resultOf(await api.get(`accounts/user/${encodeURIComponent(me.username)}`));
    superAdmin = Boolean(user?.is_super_admin);
  } catch { superAdmin = false; }
  session.remember({ dcs, is_super_admin: superAdmin });
  if (!dcs.includes(session.dc())) session.setDc(dcs.includes("main") ? "main" : dcs[0] || "");
}

function paintShell(open) {
  const me = session.current();
  $("#top").hidden = open || !me;
  if (!me) return;
  $("#whoami").textContent = me.username;
  for (const a of document.querySelectorAll("#nav [data-admin]")) a.hidden = !me.is_super_admin;
  const select = $("#dc-select");
  const dcs = me.dcs || [];
  if (select.options.length !== dcs.length || [...select.options].some((o, i) => o.value !== dcs[i])) {
    clear(select, dcs.map((name) => h("option", { value: name }, name)));
  }
  select.value = session.dc();
}

beforeRender(async (open) => {
  if (!open) await loadIdentity();
  paintShell(open);
});

$("#dc-select").addEventListener("change", (event) => {
  session.setDc(event.target.value);
  window.dispatchEvent(new HashChangeEvent("hashchange")); // re-render the page for that DC
});

// the skip link moves the focus; following its href would change the hash route
$(".skip").addEventListener("click", (event) => { event.preventDefault(); $("#main").focus(); });

$("#logout").addEventListener("click", () => logout().catch((error) => showAlert(error.message)));

start();
