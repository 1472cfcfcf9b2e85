"""`python -m devstack` (what `make run` runs): serve the API on the local stack until Ctrl-C."""
from __future__ import annotations

import os
import signal
import sys
import threading

from devstack.stack import Stack, StackOptions


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in ("1", "true", "yes", "on", "t")


def options_from_env() -> StackOptions:
    return StackOptions(
        port=int(os.environ.get("PORT", "8000")),
        emulator_port=int(os.environ.get("EMULATOR_PORT", "0")),
        admin_key=os.environ.get("IMAGE_API_ADMIN_KEY", ""),
        image_server=os.environ.get("IMAGE_SERVER", "on").strip().lower() in ("on", "1", "true"),
        cleanup_seconds=float(os.environ.get("CLEANUP_INTERVAL_SECONDS", "60")),
        allow_loopback=_flag("IMAGE_SOURCE_ALLOW_LOOPBACK", True),
    )


def main() -> int:
    options = options_from_env()
    stack = Stack(options).start()
    print(f"Image API:    {stack.api_url}/", flush=True)
    print(f"AWS emulator: {stack.emulator.url}", flush=True)
    print("Image server: " + (f"on (bucket {os.environ['IMAGE_STORE_BUCKET']})"
                              if options.image_server else "off (DB-only operations)"), flush=True)
    if not options.admin_key:
        print(f"Admin API key (user 'admin'): {stack.admin_key}", flush=True)
    else:
        print("Admin API key: $IMAGE_API_ADMIN_KEY", flush=True)
    print("Ready. Press Ctrl-C to stop.", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
