"""Credentials in URLs (`http://user:password@host/…`, `http://TOKEN@host/…`) are used for the
fetch but never shown: task details, the task log, messages and log lines show
`user:***@host` for a user and password, `***@host` for a userinfo without a password (it is
often a token on its own)."""
from __future__ import annotations

import re

# scheme://userinfo@ — the userinfo is everything before the authority's last '@' (a
# password may hold an unescaped '@'); the authority ends at '/', '?', '#' or a space
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")
MASK = "***"


def _masked(match: re.Match[str]) -> str:
    user, has_password, _ = match.group("userinfo").partition(":")
    shown = f"{user}:{MASK}" if has_password and "@" not in user else MASK
    return f"{match.group('scheme')}{shown}@"


def redact(text: str) -> str:
    """`text` with the credentials of every URL's userinfo replaced by ***."""
    return _USERINFO.sub(_masked, text)
