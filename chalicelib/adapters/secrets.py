"""Secrets the service keeps outside its environment: the compute nodes' token.

In AWS the token is an SSM Parameter Store SecureString named by `NODE_TOKEN_PARAMETER` (the
deploy template's `NodeTokenParameter`); only the functions that check it may read it. It is
read on the first request that needs it and kept for the container's life: a rotated token
reaches a container when Lambda starts a new one (a deploy or a configuration change starts
new ones everywhere). `NODE_TOKEN`, when set, wins: the local stack and the tests use it.

A parameter that is named but cannot be read (missing, not a SecureString we may decrypt,
SSM unreachable) is an error, never "no token": the routes that check the token fail rather
than let any caller in. Nothing is cached then, so the next request tries again.
"""
from __future__ import annotations

import logging
import threading

from chalicelib.adapters import aws
from chalicelib.config import settings

log = logging.getLogger("imageapi.secrets")

_cache: dict[str, str] = {}   # parameter name -> its value, for this container's life
_lock = threading.Lock()


def node_token() -> str:
    """The token compute nodes present (ES-NODE-TOKEN); empty when none is configured."""
    cfg = settings()
    if cfg.node_token:
        return cfg.node_token
    name = cfg.node_token_parameter
    if not name:
        return ""
    with _lock:
        if name not in _cache:
            _cache[name] = _read(name)
        return _cache[name]


def _read(name: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError
    try:
        answer = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)
    except (BotoCoreError, ClientError) as exc:
        log.error("node token parameter %s cannot be read: %s", name,
                  aws.error_code(exc) or type(exc).__name__)
        raise
    return str(answer["Parameter"]["Value"])


def forget() -> None:
    """Drop what was read (tests; a container never needs to)."""
    with _lock:
        _cache.clear()
