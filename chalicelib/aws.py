"""Lazily created boto3 clients (a Lambda cold start pays only for what it uses)."""
from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=None)
def client(service: str) -> Any:
    import boto3  # imported here: most API calls never need a boto3 client
    return boto3.session.Session().client(service)


def reset() -> None:
    client.cache_clear()
