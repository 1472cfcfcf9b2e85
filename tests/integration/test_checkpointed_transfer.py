"""Images of any size (SPEC §5.4): a transfer stops after TRANSFER_STEP_SECONDS at a part
boundary with a checkpoint in its task, the state machine runs the step again, and the next run
continues the source with `Range` + `If-Range`, the multipart upload and the SHA-1 where the
last one stopped. Real ASL executions on the emulator; the repository is a local HTTP server
that honours ranges (or not) and records where every request started."""
from __future__ import annotations

import hashlib
import random
from urllib.parse import urlsplit

import pytest

from chalicelib.persistence.models import Image, Task
from tests.integration.workflow_support import RangeFile, step_runs, wait_task
from tests.support import Api, wait_for

MIB = 1 << 20
PART = 5 * MIB                              # TRANSFER_PART_BYTES of the test stack
BIG = random.Random(8).randbytes(32 * MIB)  # 7 parts
SLOW = 8 * MIB                              # bytes/s: 32 MiB take about 4 s


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


def serve(files, source: RangeFile, content: bytes = BIG) -> str:
    manifest = files.manifest(content)
    url = files.publish(manifest)
    files.server.expect_request(urlsplit(url).path + "/file").respond_with_handler(
        source.handler)
    return url


def import_from(admin, url: str, name: str = "big") -> str:
    r = admin.post(f"/image/{name}", {"manifest_url": url, "dc": "main"})
    assert r.status_code == 201, r.text
    return r.json()["task_id"]


def stored_sha1(server, name: str) -> str:
    import boto3
    image = Image.get(name)
    body = boto3.client("s3").get_object(Bucket=server.bucket,
                                         Key=f"images/{image.uuid}/file")["Body"].read()
    return hashlib.sha1(body).hexdigest()


def assert_imported(server, admin, task_id: str, content: bytes = BIG) -> None:
    final = wait_task(admin, task_id, timeout=120)
    assert final.status_code == 200, final.text
    assert stored_sha1(server, "big") == hashlib.sha1(content).hexdigest()
    assert Image.get("big").status == 1
    assert server.open_uploads() == []
    assert Task.get(task_id).transfer is None  # the checkpoint ends with its task


def test_a_slow_file_takes_several_step_runs_and_arrives_whole(server, admin, files,
                                                               settings_override):
    settings_override(TRANSFER_STEP_SECONDS=1)
    source = RangeFile(BIG, rate=SLOW)
    task_id = import_from(admin, serve(files, source))

    def midway() -> dict | None:  # what a person polling the task sees while it runs
        shown = admin.get(f"/task/{task_id}").json()["result"].get("progress") or {}
        return shown if shown.get("runs", 0) >= 2 and shown.get("eta_seconds") else None

    shown = wait_for(midway, 60, 0.05, message="no progress with a rate and an ETA")
    assert 0 < shown["bytes_done"] < shown["bytes_total"] == len(BIG)
    assert 0 < shown["percent"] < 100 and shown["rate_bytes_per_second"] > 0
    assert_imported(server, admin, task_id)
    runs = step_runs(task_id, "ImportFile")
    assert runs >= 3
    # every run after the first asked for the rest, from a part boundary
    assert source.starts[0] == 0 and len(source.starts) == runs
    assert all(start > 0 and start % PART == 0 for start in source.starts[1:])
    assert source.starts == sorted(source.starts)
    view = admin.get(f"/task/{task_id}").json()["result"]["progress"]
    assert view["bytes_done"] == view["bytes_total"] == len(BIG) and view["percent"] == 100
    assert view["runs"] == runs


def test_a_broken_connection_resumes_at_the_last_checkpoint(server, admin, files):
    """The connection breaks at about 60 %: the retry asks for the rest from the last part
    stored, not for the whole file again."""
    source = RangeFile(BIG, break_at=int(len(BIG) * 0.6))
    task_id = import_from(admin, serve(files, source))
    assert_imported(server, admin, task_id)
    assert source.starts[0] == 0 and len(source.starts) == 2
    assert 0 < source.starts[1] <= int(len(BIG) * 0.6) and source.starts[1] % PART == 0
    assert source.starts[1] >= 2 * PART  # at least the parts before the break were kept


def test_a_source_without_ranges_is_read_in_one_run(server, admin, files, settings_override):
    settings_override(TRANSFER_STEP_SECONDS=1)
    source = RangeFile(BIG, rate=SLOW, ranges=False)
    task_id = import_from(admin, serve(files, source))
    assert_imported(server, admin, task_id)
    assert step_runs(task_id, "ImportFile") == 1
    assert source.starts == [0, 0]  # the download, and the one-byte probe it answered in full


def test_a_source_without_ranges_that_does_not_fit_one_run(server, admin, files,
                                                           settings_override):
    """A Lambda run that ends too soon for a source that cannot resume: a clear error."""
    settings_override(TRANSFER_STEP_SECONDS=1, DEVSTACK_LAMBDA_TIMEOUT_SECONDS=63)
    source = RangeFile(BIG, rate=2 * MIB, ranges=False)
    task_id = import_from(admin, serve(files, source))
    final = wait_task(admin, task_id, timeout=60)
    assert final.status_code == 400
    assert final.json()["result"]["message"] == (
        "ERROR: Image source does not support resumable downloads (HTTP Range) and the file "
        "does not fit one transfer step")
    assert Image.count("big") == 0
    assert server.store_keys() == [] and server.open_uploads() == []


def test_a_file_that_changed_between_runs_starts_over(server, admin, files, settings_override):
    """The second run's If-Range names an ETag the source no longer has: it sends the whole
    file, and the transfer starts over from the first byte (the file still fits one run)."""
    settings_override(TRANSFER_STEP_SECONDS=1)
    source = RangeFile(BIG, rate=SLOW, etags=['"v1"', '"v2"'])
    task_id = import_from(admin, serve(files, source))
    assert_imported(server, admin, task_id)
    assert source.starts[0] == 0 and source.starts[1] > 0   # a ranged request ...
    assert source.statuses[1] == 200                        # ... answered with the whole file
    assert step_runs(task_id, "ImportFile") == 2            # which the second run read to the end


def test_a_cancel_between_runs_removes_upload_and_checkpoint(server, admin, files,
                                                             settings_override, hold):
    settings_override(TRANSFER_STEP_SECONDS=1)
    source = RangeFile(BIG, rate=SLOW)
    held = hold("import_file", passing=1)  # the first run goes; the second waits at its start
    task_id = import_from(admin, serve(files, source))
    held.wait_reached(task_id)
    assert Task.get(task_id).transfer["checkpoint"]["parts"] >= 1
    r = admin.put(f"/task/{task_id}/cancel")
    assert r.status_code == 410, r.text
    assert server.open_uploads() == [] and server.store_keys() == []
    assert Task.get(task_id).transfer is None and Image.count("big") == 0
    held.release(task_id)  # the held run finds the task ended and does nothing
    assert wait_task(admin, task_id).status_code == 410
    assert server.open_uploads() == [] and server.store_keys() == []


@pytest.mark.parametrize("death", [RuntimeError("an unexpected error"), SystemExit(137)],
                         ids=["unexpected-error", "process-killed"])
def test_a_run_that_dies_is_retried_from_its_checkpoint(server, admin, files, monkeypatch,
                                                        settings_override, death):
    """The step dies once after its first part is checkpointed; Step Functions retries it,
    and the new run asks the source for the rest only."""
    from chalicelib.services.image_server import transfer_runs
    settings_override(TRANSFER_STEP_SECONDS=1)
    real_save = transfer_runs._Run._save
    died = []

    def save_then_die(self, checkpoint):
        real_save(self, checkpoint)
        if not died and checkpoint.parts >= 2:
            died.append(checkpoint.parts)
            raise death

    monkeypatch.setattr(transfer_runs._Run, "_save", save_then_die)
    source = RangeFile(BIG, rate=SLOW)
    task_id = import_from(admin, serve(files, source))
    assert_imported(server, admin, task_id)
    assert died and source.starts[1] == died[0] * PART


def test_an_identical_file_in_the_store_is_copied_not_downloaded(server, admin, files):
    content = random.Random(9).randbytes(3 * MIB)
    first = RangeFile(content)
    task_id = import_from(admin, serve(files, first, content), name="first")
    assert wait_task(admin, task_id).status_code == 200
    second = RangeFile(content)
    task_id = import_from(admin, serve(files, second, content), name="second")
    final = wait_task(admin, task_id)
    assert final.status_code == 200, final.text
    assert second.starts == []  # no request for the file
    assert "reused an identical file" in final.json()["result"]["message"]
    assert stored_sha1(server, "second") == hashlib.sha1(content).hexdigest()
    assert Image.get("second").file_digest == Image.get("first").file_digest



def corrupt_parts(monkeypatch, part: int | None, times: int) -> list[int]:
    """The emulator's S3 receives part `part` of BIG (any full part: None) with one byte flipped
    on the way, its first `times` arrivals, so its CRC32 check refuses it as S3 would
    (BadDigest). Returns the numbers of the parts refused, one per refusal."""
    from devstack import store_checksums
    real_check = store_checksums.check
    refused: list[int] = []

    def check(algorithm: str, claimed: str, body: bytes) -> None:
        number = next((n for n in range(1, len(BIG) // PART + 1)
                       if len(body) == PART and body == BIG[(n - 1) * PART:n * PART]), None)
        if number is not None and part in (None, number) and len(refused) < times:
            refused.append(number)
            body = bytes([body[0] ^ 1]) + bytes(body[1:])
        real_check(algorithm, claimed, body)

    monkeypatch.setattr(store_checksums, "check", check)
    return refused



def test_a_part_corrupted_on_the_way_is_sent_again_from_the_checkpoint(server, admin, files,
                                                                       monkeypatch):
    """botocore (standard retry mode) does not retry S3's BadDigest: the step asks for a retry
    (TransientError), and the next run continues the source and the upload from the last part
    stored, sending part 3 again from the bytes it reads again."""
    refused = corrupt_parts(monkeypatch, 3, times=1)
    source = RangeFile(BIG)
    task_id = import_from(admin, serve(files, source))
    assert_imported(server, admin, task_id)
    assert refused == [3]
    assert len(source.starts) == 2 and source.starts[0] == 0
    assert 0 < source.starts[1] <= 2 * PART and source.starts[1] % PART == 0


def test_a_part_the_store_always_refuses_ends_the_import_and_leaves_nothing(server, admin,
                                                                            files, monkeypatch):
    """After the state machine's retries the import fails with the store's own reason and rolls
    back: no image, no file, no upload (parts 1 and 2 had been stored), no checkpoint."""
    refused = corrupt_parts(monkeypatch, 3, times=10**6)
    task_id = import_from(admin, serve(files, RangeFile(BIG)))
    final = wait_task(admin, task_id, timeout=120)
    assert final.status_code == 400, final.text
    assert final.json()["result"]["message"] == (
        "ERROR: Image store is not available (BadDigest)")
    assert refused == [3] * 3  # the first run and the state machine's two retries
    assert Image.count("big") == 0
    assert server.store_keys() == [] and server.open_uploads() == []
    assert Task.get(task_id).transfer is None
