"""Passwords in URLs are never shown (issue 9.4): chalicelib/domain/redaction.py."""
from __future__ import annotations

import pytest

from chalicelib.domain import field_texts, task_texts
from chalicelib.domain.image_view import log_detail
from chalicelib.domain.redaction import redact


@pytest.mark.parametrize("raw, shown", [
    ("http://user:secret@host/a", "http://user:***@host/a"),
    ("https://u:p%40ss@repo.example.com:8443/m", "https://u:***@repo.example.com:8443/m"),
    ("http://user@host/a", "http://user@host/a"),            # no password: nothing to hide
    ("http://host/a?x=a:b@c", "http://host/a?x=a:b@c"),      # not userinfo
    ("see http://a:b@h/x and ftp://c:d@i/y", "see http://a:***@h/x and ftp://c:***@i/y"),
    ("http://:secret@host/", "http://:***@host/"),
    ("plain text: no url", "plain text: no url"),
])
def test_redact(raw, shown):
    assert redact(raw) == shown


def test_texts_that_carry_a_url_hide_its_password():
    reason = "Max retries exceeded with url http://bob:hunter2@repo/m"
    assert "hunter2" not in field_texts.manifest_unreachable(reason)
    assert "hunter2" not in task_texts.download_failed(reason)
    assert log_detail({"manifest_url": "http://bob:hunter2@repo/m"}) == \
        "manifest_url='http://bob:***@repo/m'"


def test_the_log_filter_hides_passwords(caplog):
    import logging

    from chalicelib.logs import RedactUrlPasswords
    logger = logging.getLogger("imageapi.test-redaction")
    caplog.handler.addFilter(RedactUrlPasswords())
    with caplog.at_level(logging.INFO, logger="imageapi.test-redaction"):
        logger.info("fetching %s", "http://bob:hunter2@repo/m")
    assert caplog.messages == ["fetching http://bob:***@repo/m"]
