"""Make a Chalice app safe to serve from several threads at once.

In Lambda one container handles one request at a time, so Chalice keeps the current request
on the app object. The local gateway is threaded (concurrency tests need that), so those two
attributes become thread-local here. Production code is unchanged.
"""
from __future__ import annotations

import threading
from typing import Any


def make_thread_safe(app: Any) -> None:
    if getattr(app, "_thread_safe", False):
        return
    local = threading.local()
    base = type(app)

    def _prop(name: str) -> property:
        return property(lambda self: getattr(local, name, None),
                        lambda self, value: setattr(local, name, value))

    app.__class__ = type(f"ThreadSafe{base.__name__}", (base,), {
        "current_request": _prop("current_request"),
        "lambda_context": _prop("lambda_context"),
        "_thread_safe": True,
    })
