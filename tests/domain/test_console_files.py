"""The console's files (SPEC §13, chalicelib/console/): the file map is the folder, the bundle
fits its budget, the HTML has no inline script or style, nothing is fetched from elsewhere, and
the API base is computed from the request's path."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chalicelib.domain import console_files

CONSOLE = Path(__file__).resolve().parents[2] / "chalicelib" / "console"
BUDGET_BYTES = 200 * 1024


def _files() -> dict[str, bytes]:
    return {str(p.relative_to(CONSOLE)): p.read_bytes() for p in CONSOLE.rglob("*") if p.is_file()}


def test_the_file_map_is_exactly_the_console_folder():
    assert set(_files()) == set(console_files.FILES)


def test_every_module_a_module_imports_is_served():
    """A module missing from the map would be a 404 in the browser and a blank page."""
    imported = {"js/app.js"}
    for name, body in _files().items():
        if name.endswith(".js"):
            for target in re.findall(rb'from\s+"\./([\w./-]+)"', body):
                imported.add("js/" + target.decode())
    assert imported <= set(console_files.FILES)
    assert imported == {name for name in console_files.FILES if name.endswith(".js")}


def test_the_bundle_fits_its_budget():
    total = sum(len(body) for body in _files().values())
    assert total < BUDGET_BYTES, f"{total} bytes"


class _Inline(HTMLParser):
    """Collects what a strict CSP (script-src/style-src 'self') would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        self.found += [f"{tag} {name}=" for name, _ in attrs
                       if name == "style" or name.startswith("on")]
        if tag == "a" and (names.get("href") or "").startswith("javascript:"):
            self.found.append("javascript: URL")


def test_no_inline_script_or_style_in_the_page():
    parser = _Inline()
    parser.feed((CONSOLE / "index.html").read_text())
    assert parser.found == []


def test_the_scripts_set_no_inline_style_or_html():
    for name, body in _files().items():
        if name.endswith(".js"):
            for pattern in (rb"innerHTML", rb"outerHTML", rb"insertAdjacentHTML",
                            rb'"style"', rb"\beval\(", rb"new Function"):
                assert not re.search(pattern, body), (name, pattern)


def test_no_absolute_url_of_another_site_in_any_file():
    for name, body in _files().items():
        # a scheme-relative or absolute URL with a host: `//cdn.example/x`, `https://…`
        assert re.findall(rb"(?:[a-z]+:)?//[a-z0-9-]+(?:\.[a-z0-9-]+)+", body, re.I) == [], name


def test_the_page_names_the_api_base_placeholder_once():
    page = (CONSOLE / "index.html").read_text()
    assert page.count(console_files.BASE_PLACEHOLDER) == 1
    assert f'<meta name="imageapi-base" content="{console_files.BASE_PLACEHOLDER}">' in page


@pytest.mark.parametrize(("path", "base"), [
    ("/api/console/", "/api/"),
    ("/api/console", "/api/"),
    ("/api/console/js/app.js", "/api/"),
    ("/prod/images/console/console.css", "/prod/images/"),   # a custom domain's base path
    ("/console/", "/"),
    ("/api/consoles/console/", "/api/consoles/"),
])
def test_the_api_base_is_the_path_before_the_console(path, base):
    assert console_files.api_base(path) == base


def test_the_csp_is_strict_and_admits_the_store_for_upload_parts():
    policy = console_files.content_security_policy("https://b.s3.amazonaws.com")
    parts = dict(part.split(" ", 1) for part in policy.split("; "))
    assert parts["default-src"] == "'none'"
    assert parts["script-src"] == parts["style-src"] == "'self'"
    assert parts["connect-src"] == "'self' https://b.s3.amazonaws.com"
    assert parts["frame-ancestors"] == "'none'" and parts["base-uri"] == "'none'"
    assert "connect-src 'self';" in console_files.content_security_policy(None)


@pytest.mark.parametrize(("url", "origin"), [
    ("http://127.0.0.1:4566/bucket/k?x=1", "http://127.0.0.1:4566"),
    ("https://b.s3.us-east-1.amazonaws.com/k", "https://b.s3.us-east-1.amazonaws.com"),
    ("ftp://x/y", None), ("not a url", None),
])
def test_origin_of(url, origin):
    assert console_files.origin_of(url) == origin
