"""Danube Cloud's headers are on every response (SPEC §1.1): routes the gateway does not know
and the compute-node image source included."""
from __future__ import annotations

import requests

from tests.support import Api


def test_an_unknown_route_carries_the_envelope_headers(clean):
    for url in (clean.api_url + "/no-such-thing/", clean.api_url.rsplit("/api", 1)[0] + "/x/"):
        r = requests.get(url, headers={"ES-API-KEY": clean.admin_key}, timeout=10)
        assert r.status_code == 404 and r.json() == {"detail": "Not found"}
        assert r.headers["es_version"] and r.headers["es_dc"] == "main"
        assert r.headers["es_username"] == ""


def test_the_node_image_source_names_the_user(clean):
    r = Api(clean.api_url, clean.admin_key).get("/images")
    assert r.status_code == 200
    assert r.headers["es_username"] == "admin"
