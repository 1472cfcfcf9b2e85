"""The snapshot-export protocol's pure rules: chalicelib/domain/exports.py and the node queues'
names (chalicelib/domain/names.py)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import errors, exports, names


def test_a_token_is_kept_as_its_digest_and_matches_only_itself():
    token, digest = exports.new_token()
    assert len(token) >= 40 and token not in digest
    other, other_digest = exports.new_token()
    assert token != other
    assert exports.token_matches(token, [digest])
    assert exports.token_matches(token, [other_digest, digest])  # a retried step's new token
    assert not exports.token_matches(other, [digest])
    assert not exports.token_matches(token.upper(), [digest])
    assert not exports.token_matches("", [digest]) and not exports.token_matches(None, [digest])
    assert not exports.token_matches(token, [])


def test_a_token_lives_as_long_as_the_workflow_waits_without_news():
    assert exports.token_expiry(1000.7, 300) == 1000 + 300 + 60


@pytest.mark.parametrize("wait, beat", [(900, 300), (3, 1), (2, 1), (30, 10)])
def test_an_agent_reports_three_times_per_heartbeat_timeout(wait, beat):
    assert exports.heartbeat_seconds(wait) == beat


def test_request_message():
    message = exports.request_message(
        task_id="t1", node="cn1", token="tok", expires_at=99, heartbeat=10,
        request={"vm_uuid": "v", "zfs_filesystem": "zones/v-disk0", "zfs_snapshot": "es-1",
                 "other": "not sent"})
    assert message == {"type": "snapshot-export", "version": 2, "task_id": "t1", "node": "cn1",
                       "vm_uuid": "v", "zfs_filesystem": "zones/v-disk0", "snapshot": "es-1",
                       "compression": "gzip", "export_token": "tok", "expires_at": 99,
                       "heartbeat_seconds": 10}


def test_wanted_parts():
    body = {"parts": [{"number": 1, "size": 5 << 20}, {"number": 10_000, "size": 5 << 30}]}
    assert exports.wanted_parts(body) == [1, 10_000]


@pytest.mark.parametrize("body", [
    {}, {"parts": None}, {"parts": []}, {"parts": {"number": 1, "size": 1}},
    {"parts": [{"number": 0, "size": 1}]}, {"parts": [{"number": 10_001, "size": 1}]},
    {"parts": [{"number": 1, "size": 0}]}, {"parts": [{"number": 1, "size": (5 << 30) + 1}]},
    {"parts": [{"number": True, "size": 1}]}, {"parts": [{"number": "1", "size": 1}]},
    {"parts": [{"number": 1.0, "size": 1}]}, {"parts": [1]},
    {"parts": [{"number": n, "size": 1} for n in range(1, exports.MAX_URLS_PER_CALL + 2)]},
])
def test_wanted_parts_refuses(body):
    with pytest.raises(errors.BadRequest) as caught:
        exports.wanted_parts(body)
    assert caught.value.status == 400
    assert "parts must list 1 to 32 objects" in caught.value.detail


def test_sent_bytes_and_completion():
    assert exports.sent_bytes({"bytes": 0}) == 0
    assert exports.completion({"parts": 3, "bytes": 12}) == (3, 12)
    for body in ({}, {"bytes": -1}, {"bytes": "5"}, {"bytes": False}, {"bytes": 1.5}):
        with pytest.raises(errors.BadRequest):
            exports.sent_bytes(body)
    for body in ({"parts": 0, "bytes": 1}, {"parts": 10_001, "bytes": 1}, {"bytes": 1}):
        with pytest.raises(errors.BadRequest):
            exports.completion(body)


@pytest.mark.parametrize("raw, shown", [
    ("zfs send exited with status 1: I/O error", "zfs send exited with status 1: I/O error"),
    ("  line one\nline two\x1b[0m\t", "line one line two [0m"),
    ("bidi \u202e trick", "bidi   trick"),
    (None, ""), (42, ""), ("", ""),
])
def test_agent_reason_is_one_printable_line(raw, shown):
    assert exports.agent_reason({"reason": raw}) == shown


@given(st.text(max_size=2000))
def test_agent_reason_is_bounded(raw):
    reason = exports.agent_reason({"reason": raw})
    assert len(reason) <= exports.MAX_REASON_CHARS
    assert "\n" not in reason and "\x1b" not in reason


def stored(*sizes: int, start: int = 1) -> list[dict]:
    return [{"PartNumber": start + i, "Size": size} for i, size in enumerate(sizes)]


def test_parts_complete():
    assert exports.parts_complete(stored(5, 5, 2), 3, 12)
    assert not exports.parts_complete(stored(5, 5, 2), 3, 13)   # bytes missing
    assert not exports.parts_complete(stored(5, 5), 3, 10)      # a part missing
    assert not exports.parts_complete(stored(5, 5, 2), 2, 10)   # more than reported
    assert not exports.parts_complete(stored(5, 2, start=2), 2, 7)  # a gap at the start
    assert not exports.parts_complete([], 1, 0)


def test_export_queue_names():
    prefix = names.export_queue_prefix("imageapi")
    assert prefix == "imageapi-export-"
    assert names.export_queue_name(prefix, "cn07") == "imageapi-export-cn07"
    dotted, underscored = (names.export_queue_name(prefix, node) for node in ("cn.1", "cn_1"))
    assert dotted != underscored and dotted.startswith("imageapi-export-cn_1-")
    long_a, long_b = (names.export_queue_name(prefix, "n" * 100 + tail) for tail in "ab")
    assert long_a != long_b and len(long_a) == len(long_b) == 80
    assert names.export_dead_letter_queue_name("imageapi") == "imageapi-exports-dlq"
    assert not names.export_dead_letter_queue_name("imageapi").startswith(prefix)


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,253}", fullmatch=True))
def test_every_node_name_makes_a_valid_queue_name(node):
    name = names.export_queue_name("imageapi-prod-export-", node)
    assert len(name) <= 80
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
