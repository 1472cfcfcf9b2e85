// Who is logged in: the token lives in sessionStorage (this tab only, gone when it closes).
const KEY = "imageapi-session";
const DC_KEY = "imageapi-dc";
let reason = "";

export function current() {
  try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch { return null; }
}

export function token() { return current()?.token || ""; }

export function start(username, token, expires) {
  sessionStorage.setItem(KEY, JSON.stringify({ username, token, expires }));
  reason = "";
}

export function remember(extra) {
  const now = current();
  if (now) sessionStorage.setItem(KEY, JSON.stringify({ ...now, ...extra }));
}

// Ends the session; `why` is shown on the login page (the API's detail, or "Logged out.").
export function end(why = "") {
  sessionStorage.removeItem(KEY);
  reason = why;
}

export function takeReason() { const why = reason; reason = ""; return why; }

export function isSuperAdmin() { return Boolean(current()?.is_super_admin); }

export function dc() { return sessionStorage.getItem(DC_KEY) || ""; }
export function setDc(name) { sessionStorage.setItem(DC_KEY, name); }
