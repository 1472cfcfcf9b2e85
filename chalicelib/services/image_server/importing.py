"""The import step: stream `file_url` into the store, SHA-1 and size checked on the way
against `files[0]` of the manifest (SPEC §4.3, §5.4)."""
from __future__ import annotations

from typing import Any

from chalicelib.config import settings
from chalicelib.domain import task_texts
from chalicelib.domain.task_results import StepError, download_error
from chalicelib.services.image_server.context import (
    TaskEnded,
    load,
    progress_reporter,
    still_running,
    store_unavailable,
)
from chalicelib.services.tasks import lifecycle


def import_file(event: dict[str, Any]) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.adapters import sources, store
    from chalicelib.adapters.transfer import SOURCE_CHUNK_SIZE, TransferTooLarge, stream_to_store

    task, image = load(event)
    expected = ((image.manifest or {}).get("files") or [{}])[0]
    expected_size = expected.get("size")
    cfg = settings()
    lifecycle.record_progress(task.task_id, "download", 0, expected_size)
    try:
        response = sources.open_stream(task.request["file_url"],
                                       policy=sources.configured_policy(),
                                       timeout=cfg.file_timeout_seconds)
    except sources.SourceNotAllowed as exc:
        raise StepError(task_texts.RC_URL, task_texts.download_failed(exc.reason)) from exc
    except sources.SourceError as exc:
        raise download_error(exc.reason) from exc
    try:
        result = stream_to_store(
            sources.iter_body(response, SOURCE_CHUNK_SIZE), s3=store.s3(), bucket=store.bucket(),
            key=store.file_key(image.uuid), part_size=cfg.transfer_part_bytes,
            max_bytes=min(int(expected_size), cfg.file_max_bytes) if expected_size
            else cfg.file_max_bytes,
            on_progress=progress_reporter(task.task_id, "download", expected_size),
            progress_interval=0)
    except sources.SourceError as exc:
        raise download_error(exc.reason) from exc
    except TransferTooLarge:
        raise StepError(task_texts.RC_IMAGE_FILE,
                        task_texts.larger_than_announced(expected_size)) from None
    except (BotoCoreError, ClientError) as exc:
        raise store_unavailable(exc) from exc
    finally:
        response.close()
    try:
        _check_file(expected, result.size, result.sha1)
        still_running(task.task_id)
    except (StepError, TaskEnded):
        store.delete_keys([store.file_key(image.uuid)])
        raise
    lifecycle.record_progress(task.task_id, "download", result.size, expected_size)
    return {"size": result.size, "sha1": result.sha1, "seconds": round(result.seconds, 3)}


def _check_file(expected: dict[str, Any], size: int, sha1: str) -> None:
    if expected.get("size") is not None and int(expected["size"]) != size:
        raise StepError(task_texts.RC_IMAGE_FILE,
                        task_texts.size_mismatch(int(expected["size"]), size))
    if expected.get("sha1") and expected["sha1"].lower() != sha1:
        raise StepError(task_texts.RC_IMAGE_FILE,
                        task_texts.checksum_mismatch(expected["sha1"].lower(), sha1))
