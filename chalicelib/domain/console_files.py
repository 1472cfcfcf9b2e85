"""The operators' console (SPEC §13): which files exist, their types, and the headers they are
served with. Pure rules; the service reads the bytes (services/console/static_files.py)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

INDEX = "index.html"
# Every file the console has, by its path under /console/. Nothing else is served: a name is
# looked up here, never joined to a directory, so `..` or an absolute path cannot escape.
FILES: dict[str, str] = {
    INDEX: "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    **{f"js/{name}.js": "text/javascript; charset=utf-8" for name in (
        "app", "api", "dom", "router", "session", "forms", "progress", "sha1", "upload",
        "page_login", "page_images", "page_image", "page_import", "page_upload", "page_tasks",
        "page_log", "page_dcs", "page_users")},
}
# The API base the page calls (`<meta name="imageapi-base">`), filled in per request.
BASE_PLACEHOLDER = "__IMAGEAPI_BASE__"
ROUTE_PREFIX = "/console"
# The files change only with a deployment: a browser may keep them a little while and then
# revalidate by ETag (a new deployment shows within the minute).
CACHE_CONTROL = "public, max-age=60, must-revalidate"
CACHE_CONTROL_INDEX = "no-cache"  # holds the per-request API base: always revalidated


@dataclass(frozen=True)
class ConsoleFile:
    path: str
    content_type: str
    body: bytes

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


def content_type(path: str) -> str | None:
    """The file's type, or None for anything that is not one of the console's files."""
    return FILES.get(path or INDEX)


def content_security_policy(store_origin: str | None) -> str:
    """Strict: only this origin's scripts and styles, no inline code, no frames; connections
    to the API (same origin) and to the store, where the browser PUTs upload parts."""
    connect = "'self'" + (f" {store_origin}" if store_origin else "")
    return "; ".join((
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        f"connect-src {connect}", "form-action 'self'", "frame-ancestors 'none'",
        "base-uri 'none'"))


def security_headers(store_origin: str | None) -> dict[str, str]:
    return {"Content-Security-Policy": content_security_policy(store_origin),
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY"}


def api_base(request_path: str) -> str:
    """The API's base path as the browser sees it, from the path the request came in on
    (API Gateway's `requestContext.path`: the stage, or a custom domain's base path, then the
    route): `/api/console/js/app.js` -> `/api/`."""
    at = request_path.find(ROUTE_PREFIX + "/")
    if at < 0 and request_path.endswith(ROUTE_PREFIX):
        at = len(request_path) - len(ROUTE_PREFIX)
    return (request_path[:at] if at > 0 else "") + "/"


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL (the store's, for connect-src), or None."""
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    if not sep or scheme not in ("http", "https") or not host:
        return None
    return f"{scheme}://{host}"
