"""Danube Cloud parity of the task answers (issue 18.1-18.2), checked with its own client
`esdc-api`: the exception it raises depends on `es_task_response` (esdc-ce api/task/response.py).
"""
from __future__ import annotations

import pytest
from esdc_api import Client
from esdc_api.exceptions import ClientError, TaskError, TaskFailure, TaskRevoked

from tests.integration.workflow_support import start_import, wait_task
from tests.support import Api, image_admin_roles

CONTENT = b"parity-image" * 5000


def _client(stack) -> Client:
    return Client(stack.api_url.rstrip("/"), api_key=stack.admin_key)


def _failed_import(admin, files) -> str:
    """An import whose file does not match its manifest's checksum: the task ends FAILURE."""
    manifest = files.manifest(CONTENT)
    url = files.publish(manifest, content=b"other-bytes" * 100)
    r = admin.post("/image/img1", {"manifest_url": url, "dc": "main"})
    assert r.status_code == 201, r.text
    return r.json()["task_id"]


def test_a_failed_task_raises_task_failure(server, admin, files):
    task_id = _failed_import(admin, files)
    assert wait_task(admin, task_id).status_code == 400
    answer = _client(server).get(f"/task/{task_id}/status")
    assert answer.headers["es_task_response"] == "true"
    with pytest.raises(TaskFailure) as raised:
        _ = answer.content
    assert raised.value.task_id == task_id and raised.value.status_code == 400


def test_a_revoked_task_raises_task_revoked(server, admin, files, hold):
    held = hold("import_file")
    task_id, _ = start_import(admin, files, "img1", CONTENT)
    held.wait_reached(task_id)
    canceled = _client(server).put(f"/task/{task_id}/cancel")
    with pytest.raises(TaskRevoked):
        _ = canceled.content
    held.release(task_id)
    with pytest.raises(TaskRevoked):
        _ = _client(server).get(f"/task/{task_id}/status").content


def test_status_answers_carry_the_task_marker_whatever_the_status(server, admin, files, hold):
    held = hold("import_file")
    task_id, _ = start_import(admin, files, "img1", CONTENT)
    held.wait_reached(task_id)
    pending = admin.get(f"/task/{task_id}/status")
    assert pending.status_code == 201 and pending.headers["es_task_response"] == "true"
    held.release(task_id)
    ended = wait_task(admin, task_id)
    assert ended.status_code == 200 and ended.headers["es_task_response"] == "true"
    # an unknown id: Danube Cloud's TaskStatusResponse 404, still a task answer
    unknown = _client(server).get("/task/eu-00000000-0000-0000-0000-000000000000/status")
    with pytest.raises(TaskError) as raised:
        _ = unknown.content
    assert raised.value.status_code == 404
    # sync answers are not task answers: their errors stay ClientError
    with pytest.raises(ClientError):
        _ = _client(server).get("/image/nothing-here").content


def test_cancel_of_an_ended_task_is_danube_clouds_406(server, admin, files):
    task_id = _failed_import(admin, files)
    wait_task(admin, task_id)
    r = admin.put(f"/task/{task_id}/cancel")
    assert (r.status_code, r.json()) == (406, {"detail": "Task cannot be canceled"})


def test_done_is_true_only_for_success_and_follows_the_status(server, admin, files):
    """Danube Cloud's TaskDoneResponse: `done` is task.successful(), the code the status's."""
    task_id = _failed_import(admin, files)
    wait_task(admin, task_id)
    done = admin.get(f"/task/{task_id}/done")
    assert (done.status_code, done.json()) == (400, {"task_id": task_id, "done": False})
    assert "es_task_response" not in done.headers


def test_sync_and_created_answers_match_danube_cloud(server, admin, files):
    """SuccessTaskResponse: es_task_id, no es_task_response; TaskResponse (201): both."""
    listed = admin.get("/image")
    assert listed.headers["es_task_id"] == listed.json()["task_id"]
    assert "es_task_response" not in listed.headers
    task_id, _ = start_import(admin, files, "img1", CONTENT)
    created = admin.get(f"/task/{task_id}/status")
    assert created.headers["es_task_response"] == "true"
    wait_task(admin, task_id)


def test_task_log_names_the_dc_it_shows(server, admin):
    """es_dc names the DC the request ended in (issue 18.2)."""
    server.dc("dc2")
    answer = admin.get("/task/log", params={"dc": "dc2"})
    assert answer.status_code == 200 and answer.headers["es_dc"] == "dc2"
    assert admin.get("/task/log").headers["es_dc"] == "main"
    for unknown in ("nowhere", "\u00e9t\u00e9-\U00066412"):  # no DC: never the caller's text
        answer = admin.get("/task/log", params={"dc": unknown})
        assert answer.status_code == 200 and answer.headers["es_dc"] == "main"
    dc2_admin = server.user("alice", roles=image_admin_roles("dc2"))
    assert _client_of(server, dc2_admin).get("/task/log", dc="dc2").dc == "dc2"


def _client_of(stack, api) -> Client:
    return Client(stack.api_url.rstrip("/"), api_key=api.key)


def test_every_route_describes_itself_in_words_for_es_help(clean):
    """`es help <route>` prints the OPTIONS answer's top-level `description` as it is (else
    the raw JSON); every method has its own non-empty description (issue 18.3)."""
    import re

    from tests.integration.test_openapi import api_routes
    api = Api(clean.api_url, None)
    for path in api_routes():
        answer = api.request("OPTIONS", re.sub(r"\{[^}]+\}", "x", path))
        assert answer.status_code == 200, path
        body = answer.json()
        assert isinstance(body["description"], str) and body["description"].strip(), path
        for method, described in body["methods"].items():
            assert described["description"].startswith(f"{method} {path}: "), (path, method)
            assert f"{method} {path}: " in body["description"]
            assert "Permissions: " in described["description"]


def test_the_readme_says_where_es_comes_from(monkeypatch):
    """`es` is esdc-ce's bin/es, needs `requests`, and talks to the hard-coded
    http://127.0.0.1:8000/api: the local stack's default address (issue 18.5)."""
    from devstack.__main__ import options_from_env
    from devstack.process import ROOT
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**Where `es` comes from.**"):]
    section = section[:section.index("\n**", 10)]
    for fact in ("erigones/esdc-ce", "`bin/es`", "`requests`", "http://127.0.0.1:8000/api",
                 "ES_API_KEY"):
        assert fact in section, fact
    monkeypatch.delenv("PORT", raising=False)
    assert options_from_env().port == 8000
