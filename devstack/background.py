"""A daemon thread that repeats one job until stopped (the local stack's pumps and watchers)."""
from __future__ import annotations

import logging
import threading

log = logging.getLogger("devstack")


class BackgroundLoop:
    """Subclasses implement `tick()`; it runs every `interval` seconds until `stop()`."""

    interval = 0.25

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=0.5)  # a tick in a long poll ends when the emulator stops

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # the emulator going away at shutdown, mostly
                log.debug("%s failed", self._thread.name, exc_info=True)
