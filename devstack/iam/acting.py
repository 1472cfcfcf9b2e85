"""Who the code running now is, in the devstack process: the function whose handler runs.

All of the app's Lambda functions run in this one process, so the principal is a context
variable, set around each handler call (the gateway, the Lambda dispatch, the event bus).
botocore resolves the process's `testing` credentials to that principal's own key when it
signs (requests and presigned URLs), so the emulator knows who calls. Threads started while
a principal acts (the transfer engine's part uploads) act as it too: a new thread runs in a
copy of its creator's context, and a task submitted to a pool runs in its submitter's.
Outside any handler (stack set-up, tests) the `testing` key signs, unrestricted.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devstack.iam import enabled, policies

_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("iam_principal",
                                                                    default=None)
_installed = False


def principal() -> str | None:
    return _acting.get()


@contextlib.contextmanager
def acting_as(name: str) -> Iterator[None]:
    """AWS calls made inside the block are signed by principal `name`."""
    token = _acting.set(name)
    try:
        yield
    finally:
        _acting.reset(token)


def install() -> None:
    """Patch botocore's credentials and the thread start-up of this process (idempotent)."""
    global _installed
    if _installed or not enabled():
        return
    _installed = True
    _sign_as_principal()
    _threads_inherit_principal()


def _sign_as_principal() -> None:
    from botocore.credentials import Credentials, ReadOnlyCredentials

    original = Credentials.get_frozen_credentials

    @functools.wraps(original)
    def get_frozen_credentials(self: Credentials) -> ReadOnlyCredentials:
        frozen = original(self)
        name = _acting.get()
        known = policies.current()
        if name is None or known is None or frozen.access_key != "testing":
            return frozen
        key, secret = known.credentials(name)
        return ReadOnlyCredentials(key, secret, None)

    Credentials.get_frozen_credentials = get_frozen_credentials  # type: ignore[method-assign]


def _threads_inherit_principal() -> None:
    original_init = threading.Thread.__init__
    original_run = threading.Thread.run
    original_submit = ThreadPoolExecutor.submit

    @functools.wraps(original_init)
    def init(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._iam_principal = _acting.get()  # type: ignore[attr-defined]

    @functools.wraps(original_run)
    def run(self: threading.Thread) -> None:
        name = getattr(self, "_iam_principal", None)
        if name is None:
            return original_run(self)
        with acting_as(name):
            return original_run(self)

    @functools.wraps(original_submit)
    def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any,
               **kwargs: Any) -> Any:
        return original_submit(self, contextvars.copy_context().run, fn, *args, **kwargs)

    threading.Thread.__init__ = init  # type: ignore[method-assign]
    threading.Thread.run = run  # type: ignore[method-assign]
    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
