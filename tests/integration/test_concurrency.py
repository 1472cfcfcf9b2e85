"""The README's consistency claims under real concurrency.

Each test runs a few rounds of 8-10 requests released at the same instant by a barrier
(`racing.race`, each racer on its own kept-alive connection, the repository threaded), then
asserts the claim's invariant through the API and through the tables. Where the winner starts
a workflow, its first step is held until every racer has its answer (`racing.StepHold`), so
the outcome never depends on how fast the workflow runs. Outcomes are asserted, timings never.
With the emulator's concurrency contract disabled (`DEVSTACK_EMULATOR_CONTRACT=off`) every
test here fails, nearly always in its first round: moto alone lets two conditional
transactions both succeed and lets a failed transaction undo a concurrent commit.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import boto3
import pytest

from chalicelib.domain import task_texts
from chalicelib.domain.field_texts import ALIAS_IN_USE, LIMIT_REACHED
from chalicelib.domain.image_view import etag
from chalicelib.persistence.models import Datacenter, Guard, Image, Task, TaskLogEntry
from tests.integration import racing
from tests.integration.racing import race
from tests.integration.workflow_support import start_import, wait_task
from tests.support import Repository

RACERS = 10          # requests released at once in each round
UPDATE_RACERS = 8    # ... of one image's synchronous changes (a lost race is retried: n² tries)
SERVER_RACERS = 8    # ... of cancels
ROUNDS = 4
UPDATE_ROUNDS = 3
CONTENT = b"concurrency-image" * 256
STATUS_NOT_OK = {"detail": "Image status is not OK"}
ALREADY_EXISTS = {"detail": "Image already exists"}


@pytest.fixture
def files(loopback_server):
    """The image repository on the shared threaded server (the default `files` answers one
    request at a time, which would line the racers up before they reach their transactions)."""
    return Repository(loopback_server)


@pytest.fixture
def racer(admin):
    """The SuperAdmin's client for racers: one kept-alive connection per racer."""
    client = racing.Client(admin)
    yield client
    client.close()




def import_sync(admin, files, name: str, **fields) -> dict:
    r = admin.post(f"/image/{name}", {"manifest_url": files.publish(files.manifest()),
                                      "dc": "main", **fields})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def check_everything(admin) -> dict[str, Image]:
    records = racing.assert_tables_consistent()
    racing.assert_api_matches_tables(admin, records)
    return records


def stored_manifest(bucket: str, uuid: str) -> dict:
    return json.loads(boto3.client("s3").get_object(
        Bucket=bucket, Key=f"images/{uuid}/manifest")["Body"].read())


# --- uniqueness: name, uuid, alias+version -----------------------------------------------------

@pytest.mark.parametrize("image_server", [False, True], ids=["db-only", "image-server"])
def test_same_name_exactly_one_wins(clean, admin, racer, files, image_server):
    clean.use_image_server(image_server)
    if image_server:
        clean.empty_store()
    accepted = 201 if image_server else 200
    for rnd in range(ROUNDS):
        manifests = [files.manifest(CONTENT) for _ in range(RACERS)]
        urls = [files.publish(m, content=CONTENT) for m in manifests]
        results = race(*[lambda u=u, i=i: racer.post(f"/image/race{rnd}", {
            "manifest_url": u, "dc": "main", "alias": f"a{rnd}x{i}"})
            for i, u in enumerate(urls)], prepare=racer.connect)
        assert racing.codes(results) == {accepted: 1, 406: RACERS - 1}, racing.texts(results)
        assert all(r.json() == ALREADY_EXISTS for r in results if r.status_code == 406)
        winner = next(i for i, r in enumerate(results) if r.status_code == accepted)
        if image_server:
            assert wait_task(admin, results[winner].json()["task_id"]).status_code == 200
        record = Image.get(f"race{rnd}", consistent_read=True)
        assert (record.uuid, record.alias, record.status) == (
            manifests[winner]["uuid"], f"a{rnd}x{winner}", 1)
        shown = admin.get(f"/image/race{rnd}").json()["result"]
        assert (shown["uuid"], shown["alias"]) == (record.uuid, record.alias)
        assert sorted(check_everything(admin)) == [f"race{n}" for n in range(rnd + 1)]
    records = racing.images()
    if image_server:
        assert Task.count() == ROUNDS
        assert sorted(clean.store_keys()) == sorted(
            f"images/{image.uuid}/{part}" for image in records.values()
            for part in ("file", "manifest"))


def test_same_uuid_exactly_one_wins(admin, racer, files):
    for rnd in range(ROUNDS):
        manifest = files.manifest()
        url = files.publish(manifest)
        names = [f"u{rnd}x{i}" for i in range(RACERS)]
        results = race(*[lambda n=n: racer.post(f"/image/{n}", {
            "manifest_url": url, "dc": "main"}) for n in names], prepare=racer.connect)
        assert racing.codes(results) == {200: 1, 400: RACERS - 1}, racing.texts(results)
        winner = names[next(i for i, r in enumerate(results) if r.status_code == 200)]
        for r in results:
            if r.status_code == 400:  # the holder named is the one image that won
                assert r.json()["result"] == {"manifest_url": [
                    f'Image UUID is already registered by image "{winner}".']}
        assert Guard.get(f"uuid#{manifest['uuid']}", consistent_read=True).image_name == winner
        assert [i.name for i in Image.uuid_index.query(manifest["uuid"])] == [winner]
        assert admin.get(f"/image/{winner}").json()["result"]["uuid"] == manifest["uuid"]
        assert len(check_everything(admin)) == rnd + 1


def test_same_alias_and_version_exactly_one_wins(admin, racer, files):
    for rnd in range(ROUNDS):
        names = [f"v{rnd}x{i}" for i in range(RACERS)]
        urls = [files.publish(files.manifest()) for _ in names]
        results = race(*[lambda n=n, u=u: racer.post(f"/image/{n}", {
            "manifest_url": u, "dc": "main", "alias": f"same{rnd}", "version": "1"})
            for n, u in zip(names, urls)], prepare=racer.connect)
        assert racing.codes(results) == {200: 1, 400: RACERS - 1}, racing.texts(results)
        assert all(r.json()["result"] == {"alias": [ALIAS_IN_USE]}
                   for r in results if r.status_code == 400)
        winner = names[next(i for i, r in enumerate(results) if r.status_code == 200)]
        assert Guard.get(f"alias#same{rnd}#1", consistent_read=True).image_name == winner
        assert admin.get(f"/image/{winner}").json()["result"]["alias"] == f"same{rnd}"
        assert len(check_everything(admin)) == rnd + 1


# --- the DC image limit ------------------------------------------------------------------------

def test_dc_image_limit_is_never_exceeded(clean, admin, racer, files):
    for rnd in range(ROUNDS):
        limit = 1 + rnd % 3
        clean.dc(f"small{rnd}", image_limit=limit)
        urls = [files.publish(files.manifest()) for _ in range(RACERS)]
        results = race(*[lambda u=u, i=i: racer.post(f"/image/l{rnd}x{i}", {
            "manifest_url": u, "dc": f"small{rnd}"}) for i, u in enumerate(urls)],
                       prepare=racer.connect)
        assert racing.codes(results) == {200: limit, 400: RACERS - limit}, racing.texts(results)
        assert all(r.json()["result"] == {"non_field_errors": [LIMIT_REACHED]}
                   for r in results if r.status_code == 400)
        assert Datacenter.get(f"small{rnd}", consistent_read=True).image_count == limit
        winners = {f"l{rnd}x{i}" for i, r in enumerate(results) if r.status_code == 200}
        listed = {item["name"] for item in racing.api_images(admin).values()
                  if item["dcs"] == [f"small{rnd}"]}
        assert listed == winners
        check_everything(admin)  # every DC: image_count == bound images <= image_limit


# --- concurrent changes of one image -----------------------------------------------------------

def logged_changes(name: str, msg: str) -> set[str]:
    return {entry.task_id for entry in TaskLogEntry.scan(
        (TaskLogEntry.object_name == name) & (TaskLogEntry.msg == msg), consistent_read=True)}


def test_racing_sync_updates_last_writer_wins(admin, racer, files):
    """Without an image server, PUTs with different aliases are applied one after another: each
    answer shows what it wrote, the record is the last writer's, its revision counts every
    accepted change, each accepted change has its log entry, and no alias guard is left
    without its image."""
    for rnd in range(UPDATE_ROUNDS):
        name = f"s{rnd}"
        import_sync(admin, files, name)
        before = Image.get(name, consistent_read=True)
        aliases = [f"s{rnd}a{i}" for i in range(UPDATE_RACERS)]
        results = race(*[lambda a=a: racer.put(f"/image/{name}", {"alias": a})
                         for a in aliases], prepare=racer.connect)
        # a change that loses to another is run again on the new version: all are accepted
        assert set(racing.codes(results)) == {200}, racing.texts(results)
        accepted = list(range(len(results)))
        assert [results[i].json()["result"]["alias"] for i in accepted] == \
            [aliases[i] for i in accepted]
        record = Image.get(name, consistent_read=True)
        # applied one after another: each accepted answer names its own version (ETag), the
        # versions are exactly the next len(accepted) ones, and the last is the record's
        versions = {etag(SimpleNamespace(name=name, uuid=record.uuid, rev=rev)): rev
                    for rev in range(before.rev + 1, before.rev + len(accepted) + 1)}
        assert sorted(results[i].headers["ETag"] for i in accepted) == sorted(versions)
        assert record.rev == before.rev + len(accepted)
        last = [i for i in accepted if results[i].headers["ETag"] == etag(record)]
        assert len(last) == 1 and record.alias == aliases[last[0]]
        assert logged_changes(name, task_texts.LOG_UPDATE) == {
            results[i].headers["es_task_id"] for i in accepted}
        shown = admin.get(f"/image/{name}")
        assert shown.json()["result"]["alias"] == record.alias
        assert shown.headers["ETag"] == etag(record)
        assert Guard.get(f"alias#{record.alias}#{record.version}",
                         consistent_read=True).image_name == name
        check_everything(admin)


def test_racing_sync_updates_and_delete(admin, racer, files):
    """Without an image server, a DELETE racing PUTs: every accepted change is applied once and
    logged once, each PUT lands before the delete (200) or finds the image gone (404), and a
    deleted image leaves no guard, no count and no record behind."""
    for rnd in range(UPDATE_ROUNDS):
        name = f"d{rnd}"
        import_sync(admin, files, name)
        before = Image.get(name, consistent_read=True)
        calls = [lambda i=i: racer.put(f"/image/{name}", {"alias": f"d{rnd}a{i}"})
                 for i in range(UPDATE_RACERS - 1)]
        results = race(*calls, lambda: racer.delete(f"/image/{name}"), prepare=racer.connect)
        puts, deleted = results[:-1], results[-1]
        assert deleted.status_code == 200, deleted.text
        assert set(racing.codes(puts)) <= {200, 404}, racing.texts(puts)
        assert all(r.json() == {"detail": "Image not found"}
                   for r in puts if r.status_code == 404)
        accepted = {r.headers["es_task_id"] for r in puts if r.status_code == 200}
        assert logged_changes(name, task_texts.LOG_UPDATE) == accepted
        assert len(logged_changes(name, task_texts.LOG_DELETE)) == (deleted.status_code == 200)
        if deleted.status_code == 200:
            assert admin.get(f"/image/{name}").status_code == 404
            assert Image.count(name, consistent_read=True) == 0
        else:
            assert 404 not in racing.codes(puts)
            record = Image.get(name, consistent_read=True)
            assert record.rev == before.rev + len(accepted)
            assert admin.get(f"/image/{name}").json()["result"]["alias"] == record.alias
        check_everything(admin)


def test_put_and_delete_with_image_server_exactly_one_is_accepted(server, admin, racer, files,
                                                                 hold):
    """With the image server, PUT (manifest-changing) and DELETE racing for one image: one is
    accepted (201) and locks the image, every other gets 417. The accepted task is held at its
    first step until all answers are in, then ends; record, guards, DC count and the store
    agree with the operation that won."""
    tasks = {f"w{rnd}": start_import(admin, files, f"w{rnd}", CONTENT, alias=f"w{rnd}")[0]
             for rnd in range(ROUNDS)}
    for task_id in tasks.values():
        assert wait_task(admin, task_id).status_code == 200
    held = hold("write_manifest", "delete_objects")
    for rnd in range(ROUNDS):
        name = f"w{rnd}"
        image = Image.get(name, consistent_read=True)
        puts = [lambda i=i: racer.put(f"/image/{name}", {"desc": f"r{rnd}d{i}"})
                for i in range(RACERS - 2)]
        deletes = [lambda: racer.delete(f"/image/{name}") for _ in range(2)]
        results = race(*puts, *deletes, prepare=racer.connect)
        assert racing.codes(results) == {201: 1, 417: RACERS - 1}, racing.texts(results)
        assert all(r.json() == STATUS_NOT_OK for r in results if r.status_code == 417)
        winner = next(i for i, r in enumerate(results) if r.status_code == 201)
        task_id = results[winner].json()["task_id"]
        assert [t.task_id for t in racing.tasks_of(name) if t.operation != "import"] == [task_id]
        pending = Image.get(name, consistent_read=True)
        assert (pending.status, pending.task_id) == (2, task_id)
        held.release(task_id)
        assert wait_task(admin, task_id).status_code == 200
        assert len(racing.final_log_entries(task_id)) == 1
        if winner >= RACERS - 2:  # a DELETE won
            assert admin.get(f"/image/{name}").status_code == 404
            assert Image.count(name, consistent_read=True) == 0
            assert not [k for k in server.store_keys() if image.uuid in k]
        else:
            record = Image.get(name, consistent_read=True)
            assert (record.status, record.task_id, record.backup, record.desc) == (
                1, None, None, f"r{rnd}d{winner}")
            assert admin.get(f"/image/{name}").json()["result"]["desc"] == f"r{rnd}d{winner}"
            assert stored_manifest(server.bucket, image.uuid)["description"] == f"r{rnd}d{winner}"
        check_everything(admin)
    assert server.open_uploads() == []


# --- a task ends exactly once ------------------------------------------------------------------

def test_cancel_racing_the_finish_ends_the_task_once(server, admin, racer, files, hold,
                                                     monkeypatch):
    """Cancels racing the workflow's own Finish step: the step is held until the first cancel
    reaches its rollback (`ending.revoke`), then the step and every cancel go at once. The
    cancels read the task 0, 2 or 3 more times first (it varies by round), so their claims
    meet the Finish's transaction at different points and both outcomes occur. The task ends
    once: one final log entry, SUCCESS or REVOKED, every cancel answering accordingly, and
    the image, its guards and the store as that outcome leaves them. Rounds cycle through an
    update (new alias and description), an import and a delete (past its point of no return
    at Finish: completed whoever ends it)."""
    from chalicelib.services.tasks import ending, lifecycle
    kinds = [("update", "import", "delete")[rnd % 3] for rnd in range(ROUNDS)]
    ready = {"c-base": start_import(admin, files, "c-base", CONTENT, alias="cbase")[0]}
    ready |= {f"c{rnd}": start_import(admin, files, f"c{rnd}", CONTENT, alias=f"c{rnd}")[0]
              for rnd, kind in enumerate(kinds) if kind == "delete"}
    for task_id in ready.values():
        assert wait_task(admin, task_id).status_code == 200
    held = hold("finish")
    reads = [0]
    held.release_on_call(monkeypatch, ending, "revoke",
                         then=lambda task_id: [lifecycle.get(task_id) for _ in range(reads[0])])
    outcomes = []
    for rnd, kind in enumerate(kinds):
        reads[0] = (0, 2, 3, 3)[rnd % 4]
        name = "c-base" if kind == "update" else f"c{rnd}"
        before = Image.get(name, consistent_read=True) if kind != "import" else None
        if kind == "update":
            r = admin.put(f"/image/{name}", {"desc": f"round{rnd}", "alias": f"cbase{rnd}"})
        elif kind == "delete":
            r = admin.delete(f"/image/{name}")
        else:
            r = None
            task_id, _ = start_import(admin, files, name, CONTENT, alias=name)
        if r is not None:
            assert r.status_code == 201, r.text
            task_id = r.json()["task_id"]
        held.wait_reached(task_id)
        results = race(*[lambda: racer.put(f"/task/{task_id}/cancel")
                         for _ in range(SERVER_RACERS)], prepare=racer.connect)
        final = wait_task(admin, task_id)
        status = final.json()["status"]
        outcomes.append(f"{kind}:{status}")
        assert (final.status_code, status) in {(200, "SUCCESS"), (410, "REVOKED")}, final.text
        allowed = {200, 406} if status == "SUCCESS" else {410, 406}
        assert set(racing.codes(results)) <= allowed, (status, racing.texts(results))
        task = Task.get(task_id, consistent_read=True)
        assert (task.state, task.status) == ("done", status)
        ends = racing.final_log_entries(task_id)
        assert [e.status for e in ends] == [status], [(e.status, e.detail) for e in ends]
        log = admin.get("/task/log", params={"limit": 1000}).json()["result"]
        assert [e["status"] for e in log if e["task"] == task_id and e["msg"] == ends[0].msg
                and e["status"] != "PENDING"] == [status]
        record = Image.get(name, consistent_read=True) if Image.count(
            name, consistent_read=True) else None
        shown = admin.get(f"/image/{name}")
        if kind == "update":  # the new alias and description, or the old ones restored
            alias, desc = (f"cbase{rnd}", f"round{rnd}") if status == "SUCCESS" else (
                before.alias, before.desc)
            assert (record.status, record.task_id, record.backup, record.alias, record.desc) \
                == (1, None, None, alias, desc)
            assert stored_manifest(server.bucket, record.uuid)["description"] == desc
            assert (shown.json()["result"]["alias"], shown.json()["result"]["desc"]) == (
                alias, desc)
        elif kind == "import" and status == "SUCCESS":
            assert (record.status, record.task_id) == (1, None)
            assert shown.json()["result"]["uuid"] == record.uuid
        else:  # a revoked import, and a delete, leave nothing of the image
            assert kind == "import" or status == "SUCCESS"
            assert record is None and shown.status_code == 404
            if before is not None:
                assert not [k for k in server.store_keys() if before.uuid in k]
        check_everything(admin)
        assert sorted(server.store_keys()) == sorted(
            f"images/{image.uuid}/{part}" for image in racing.images().values()
            for part in ("file", "manifest"))
    assert server.open_uploads() == []
    print("cancel vs finish outcomes:", outcomes)
