"""The import step (SPEC §4.3, §5.4): `file_url` into the store, size, SHA-1 and SHA-256 checked
against `files[0]` of the manifest, which gains the SHA-256 (§4.14). A run stops after
TRANSFER_STEP_SECONDS with a checkpoint and the workflow runs it again (transfer_runs); a file
the store already holds (same SHA-1 and size, recorded at another image's import, with a known
SHA-256 that agrees with the manifest's) is copied there instead of downloaded."""
from __future__ import annotations

from typing import Any

from chalicelib.adapters import sources, store
from chalicelib.config import settings
from chalicelib.domain import file_checks, task_texts
from chalicelib.domain.manifest import file_digest, file_sha256
from chalicelib.domain.task_results import StepError, download_error
from chalicelib.domain.transfers import progress, run_budget
from chalicelib.domain.vocabulary import ImageStatus
from chalicelib.persistence.models import Image, get_or_none
from chalicelib.services.image_server import transfer_runs
from chalicelib.services.image_server.context import (
    TaskEnded,
    load,
    still_running,
    store_unavailable,
)
from chalicelib.services.tasks import lifecycle

STEP = "download"


class _HttpSource:
    """The image file at `url`, under the source policy, for transfer_runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.policy = sources.configured_policy()
        self.timeout = settings().file_timeout_seconds

    def open(self, start: int, validator: str | None) -> sources.Download:
        return sources.open_download(self.url, policy=self.policy, timeout=self.timeout,
                                     start=start, validator=validator)

    def resumes(self, opened: Any) -> bool:
        if not opened.validator:
            return False  # without a validator a later range could be of another file
        return bool(opened.accepts_ranges) or sources.serves_ranges(
            self.url, policy=self.policy, timeout=self.timeout, validator=opened.validator)


def import_file(event: dict[str, Any], remaining_seconds: float = 900.0) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    task, image = load(event)
    expected = ((image.manifest or {}).get("files") or [{}])[0]
    target = transfer_runs.Target(
        key=store.file_key(image.uuid), expected_size=expected.get("size"),
        max_bytes=_max_bytes(expected.get("size")), step=STEP)
    try:
        if not task.transfer:
            reused = _reuse_identical_file(task.task_id, image, expected)
            if reused is not None:
                return reused
        budget = run_budget(settings().transfer_step_seconds, remaining_seconds)
        result = transfer_runs.run(task, _HttpSource(task.request["file_url"]), target, budget)
    except sources.SourceNotAllowed as exc:
        raise StepError(task_texts.RC_URL, task_texts.download_failed(exc.reason)) from exc
    except sources.SourceError as exc:
        raise download_error(exc.reason) from exc
    except (BotoCoreError, ClientError) as exc:
        raise store_unavailable(exc) from exc
    if result["done"]:
        _check_file(expected, result, target.key, task.task_id)
        result["file"] = _stored_file(expected, result)
    return result


def _stored_file(expected: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """`files[0]` of the stored manifest: the source's, with the digests and size measured."""
    return {**expected, "sha1": result["sha1"], "sha256": result["sha256"],
            "size": result["size"]}


def _max_bytes(expected_size: Any) -> int:
    limit = settings().file_max_bytes
    return min(int(expected_size), limit) if expected_size else limit


def _reuse_identical_file(task_id: str, image: Image,
                          expected: dict[str, Any]) -> dict[str, Any] | None:
    """Copy the file from an image whose recorded file has this SHA-1 and size (the store
    copies it server-side); None when there is none. Its SHA-256 must be known (an image of
    an older version gets it from the backfill first) and agree with the manifest's, if any:
    else the file is downloaded and verified like any other."""
    digest = file_digest({"files": [expected]})
    if digest is None:
        return None
    for candidate in Image.file_index.query(digest):
        source = get_or_none(Image, candidate.name)
        if source is None or source.uuid == image.uuid or source.status != ImageStatus.OK:
            continue
        sha256 = file_sha256(source.manifest_active)
        if sha256 is None or expected.get("sha256", sha256) != sha256:
            continue
        size = store.copy_file(source.uuid, image.uuid)
        if size != expected["size"]:  # the other image's file changed under it: download
            store.delete_keys([store.file_key(image.uuid)])
            return None
        try:  # a rollback that ran during the copy found nothing to remove: the copy must go
            lifecycle.save_transfer(task_id, {"reused": source.uuid},
                                    progress(STEP, size, size, None, 0))
            still_running(task_id)
        except TaskEnded:
            store.delete_keys([store.file_key(image.uuid)])
            raise
        made = {"done": True, "size": size, "sha1": expected["sha1"].lower(), "sha256": sha256,
                "seconds": 0, "runs": 0, "reused": source.name}
        return {**made, "file": _stored_file(expected, made)}
    return None


def _check_file(expected: dict[str, Any], result: dict[str, Any], key: str,
                task_id: str) -> None:
    """The stored file is the one the manifest announced; else it is removed."""
    try:
        error = file_checks.mismatch(expected, result["size"], result["sha1"], result["sha256"])
        if error is not None:
            raise error
        still_running(task_id)
    except (StepError, TaskEnded):
        store.delete_keys([key])
        raise
