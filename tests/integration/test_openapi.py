"""GET /openapi.json (SPEC §4.12): served without a key, a valid OpenAPI 3.1 document, and
exactly the app's routes: every registered route is a path of the document, and on each of
them a method answers something other than 405 if and only if the document lists it."""
from __future__ import annotations

import re
import subprocess
import sys

import requests
from openapi_spec_validator import validate

from devstack.process import ROOT
from tests.support import Api


def served(stack, slash=False):
    return requests.get(stack.api_url + "/openapi.json" + ("/" if slash else ""), timeout=30)


def test_served_without_a_key(stack):
    from chalicelib.api.openapi import document
    for slash in (False, True):
        answer = served(stack, slash)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["es_version"] == answer.json()["info"]["version"]
        assert answer.json() == document()
    validate(answer.json())


def api_routes() -> dict:
    """The app's API routes: all but the console's static files (SPEC §13: not an API)."""
    from app import app
    from chalicelib.domain.console_files import ROUTE_PREFIX
    return {path: entries for path, entries in app.routes.items()
            if path != ROUTE_PREFIX and not path.startswith(ROUTE_PREFIX + "/")}


def test_every_route_and_method_is_documented_and_nothing_else(clean):
    document = served(clean).json()
    routes = api_routes()
    assert set(document["paths"]) == set(routes), "routes and document paths differ"
    api = Api(clean.api_url, clean.admin_key)
    for path, entries in routes.items():
        listed = {method.upper() for method in document["paths"][path]}
        assert listed <= set(entries), (path, listed - set(entries))
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method in entries:
            answer = api.request(method, concrete, data=b"")
            if method == "OPTIONS":  # every route describes itself (SPEC §4.12)
                assert answer.status_code == 200 and answer.json()["url"] == path
                continue
            assert (answer.status_code != 405) == (method in listed), \
                (method, path, answer.status_code, answer.text)


def test_the_document_is_built_on_the_first_request_not_at_import():
    code = ("import sys, app; print([m for m in ('chalicelib.domain.openapi_document',) "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
