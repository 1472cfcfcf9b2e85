"""Passwords in URLs (`http://user:password@host/…`) are used for the fetch but never shown:
task details, the task log, messages and log lines show `user:***@host`."""
from __future__ import annotations

import re

# scheme://user:password@ — the password ends at the last '@' before the host's end
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^/\s]*@")
MASK = "***"


def redact(text: str) -> str:
    """`text` with the password of every URL's userinfo replaced by ***."""
    return _USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", text)
