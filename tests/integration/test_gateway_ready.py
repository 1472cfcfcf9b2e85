"""The local gateway answers ping only once the whole stack is up (issue 18.4): the API
serves before the state file `./imagectl` reads is written."""
from __future__ import annotations

import requests


def test_ping_is_503_until_the_stack_marks_the_gateway_ready(stack):
    from app import app
    from devstack.gateway import ApiServer
    server = ApiServer(app, "127.0.0.1", 0)
    server.start()
    try:
        for path in ("/ping", "/ping/", "/ping/?x=1"):
            r = requests.get(server.url + path, timeout=10)
            assert (r.status_code, r.json()) == (
                503, {"detail": "The local stack is still starting"}), path
            assert r.headers["Retry-After"] == "1" and r.headers["es_version"]
        assert requests.get(server.url + "/image/", timeout=10).status_code == 401
        server.mark_ready()
        r = requests.get(server.url + "/ping/", timeout=10)
        assert r.status_code == 200 and r.json()["result"] == "pong"
    finally:
        server.stop()


def test_the_started_stack_answers_ping(stack):
    assert requests.get(stack.api_url + "/ping/", timeout=10).status_code == 200
