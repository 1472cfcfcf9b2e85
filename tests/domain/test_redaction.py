"""Credentials in URLs are never shown (issues 9.4, 18.8): chalicelib/domain/redaction.py."""
from __future__ import annotations

import pytest

from chalicelib.domain import field_texts, task_texts
from chalicelib.domain.image_view import log_detail
from chalicelib.domain.redaction import redact


@pytest.mark.parametrize("raw, shown", [
    ("http://user:secret@host/a", "http://user:***@host/a"),
    ("https://u:p%40ss@repo.example.com:8443/m", "https://u:***@repo.example.com:8443/m"),
    ("http://TOKEN@host/a", "http://***@host/a"),            # a userinfo alone: a token
    ("https://ghp_x1@github.example/r?a=b", "https://***@github.example/r?a=b"),
    ("http://a@b:c@host/", "http://***@host/"),              # the user part is not clear
    ("http://u:p@ss@host/x@y", "http://u:***@host/x@y"),     # password with '@'
    ("http://host?x=a:b@c", "http://host?x=a:b@c"),          # query, not userinfo
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
