"""Hold chosen requests to the emulator until a test lets them go (in-process stacks only).

A test that must prove an ordering ("the rollback's write lands after the step's") needs the
step's request to stand still at the AWS end, exactly where a slow network or a throttled
service would keep it, without touching the app. `hold("PUT", r"/images/<uuid>/manifest$")`
holds the next matching request before the emulator processes it; the test sees it `reached`,
does what it races against, then `release()`s it. Requests after the held ones pass, and every
hold ends by itself after LONGEST_HOLD so a failed test cannot block later ones. Nothing holds
unless a test asked, so `make run` and the benchmarks never wait here.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

LONGEST_HOLD = 60.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Hold:
    def __init__(self, method: str, path: str, count: int, after: int) -> None:
        self.method = method
        self.path = re.compile(path)
        self.passing = after  # matching requests let through before the holding starts
        self.left = count
        self.reached = threading.Event()
        self._released = threading.Event()
        # set once a matching request past the held ones has been processed (not held)
        self.later_one_done = threading.Event()

    def release(self) -> None:
        self._released.set()

    def wait(self) -> None:
        self._released.wait(LONGEST_HOLD)


_lock = threading.Lock()
_holds: list[Hold] = []


def hold(method: str, path: str, count: int = 1, after: int = 0) -> Hold:
    """Hold `count` requests `method` whose path matches the regex `path`, the first `after`
    of them let through. The path is matched with its query string (`?partNumber=7&...`)."""
    made = Hold(method, path, count, after)
    with _lock:
        _holds.append(made)
    return made


def clear() -> None:
    """Forget every hold, releasing what any still holds."""
    with _lock:
        for made in _holds:
            made.release()
        _holds.clear()


def _matching(method: str, path: str) -> tuple[Hold | None, list[Hold]]:
    """The hold that takes this request (if any), and the holds it passes by."""
    taken, passed_by = None, []
    with _lock:
        for made in _holds:
            if made.method == method and made.path.search(path):
                if made.passing > 0:
                    made.passing -= 1
                elif made.left > 0 and taken is None:
                    made.left -= 1
                    taken = made
                elif made.left == 0:
                    passed_by.append(made)
    return taken, passed_by


def wrap(app: WsgiApp) -> WsgiApp:
    def holding(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        taken, passing = _matching(environ.get("REQUEST_METHOD", ""),
                                   environ.get("PATH_INFO", "") + (f"?{query}" if query else ""))
        if taken is not None:
            taken.reached.set()
            taken.wait()
        answer = app(environ, start_response)  # moto has done the request's work on return
        for made in passing:
            made.later_one_done.set()
        return answer

    return holding
