// Every call to the public API: `<base><route>/` with `Authorization: Token <token>`.
import * as session from "./session.js";

export class ApiError extends Error {
  constructor(status, body, message, headers = null) {
    super(message);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
  // Field errors (SPEC §1: 400 FAILURE with {field: [messages]}), else null.
  get fields() {
    const result = this.body?.result;
    return this.status === 400 && this.body?.status === "FAILURE" && result
      && typeof result === "object" && !Array.isArray(result) && !("returncode" in result)
      ? result : null;
  }
}

export function base() {
  const meta = document.querySelector('meta[name="imageapi-base"]');
  const value = meta?.content || "/api/";
  return value.endsWith("/") ? value : value + "/";
}

function url(route, params) {
  const path = route.replace(/^\/+/, "").replace(/\/*$/, "/");
  const target = new URL(base() + path, location.href);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.set(key, value);
  }
  return target;
}

function messageOf(status, body) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body?.result?.message) return body.result.message;
  if (body?.result && typeof body.result === "object") {
    return Object.entries(body.result).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("\n");
  }
  return `HTTP ${status}`;
}

// Answers {status, body, headers}; throws ApiError for a 4xx/5xx unless `ok` lists the status.
// A 401 ends the session and sends the user to the login page with the API's reason.
export async function call(method, route, { params, body, ok = [], headers = {} } = {}) {
  const sent = { Accept: "application/json", ...headers };
  const tok = session.token();
  if (tok) sent.Authorization = `Token ${tok}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url(route, params), {
      method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, null, `The API cannot be reached (${error.message}).`);
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { detail: text.slice(0, 300) }; }
  if (response.status === 401 && tok) {
    session.end(messageOf(401, parsed));
    if (location.hash !== "#/login") location.hash = "#/login";
  }
  if (response.status >= 400 && !ok.includes(response.status)) {
    throw new ApiError(response.status, parsed, messageOf(response.status, parsed), response.headers);
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export const get = (route, params, options = {}) => call("GET", route, { ...options, params });
export const post = (route, body, options = {}) => call("POST", route, { ...options, body });
export const put = (route, body, options = {}) => call("PUT", route, { ...options, body });
export const del = (route, body, options = {}) => call("DELETE", route, { ...options, body });

// The payload of a SUCCESS envelope, or the plain body.
export function resultOf(answer) {
  const body = answer.body;
  return body && typeof body === "object" && "result" in body && "status" in body ? body.result : body;
}
