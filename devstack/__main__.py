"""`python -m devstack` (what `make run` runs): serve the API on the local stack until Ctrl-C.

Data is kept under `.devstack/` between runs (`IMAGE_API_FRESH=1` starts empty). Problems a
person can fix (a busy port, a bad setting) end with one line saying what to do, exit code 1.
"""
from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import threading

from devstack import faults, layout
from devstack.stack import Stack, StackOptions


class StartupError(Exception):
    """A problem the person starting the stack can fix; the message says how."""


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in ("1", "true", "yes", "on", "t")


def _number(name: str, default: str, kind: type = int) -> float:
    raw = os.environ.get(name, "").strip() or default
    try:
        return kind(raw)
    except ValueError:
        raise StartupError(f"{name}={raw!r} is not a number; unset it or give a number") from None


def sample_repo_port() -> int | None:
    """SAMPLE_REPO_PORT: the sample repository's port (0: a free one; `off`: none)."""
    if os.environ.get("SAMPLE_REPO_PORT", "").strip().lower() in ("off", "no", "false", "none"):
        return None
    return int(_number("SAMPLE_REPO_PORT", "8001"))


def options_from_env() -> StackOptions:
    return StackOptions(
        port=int(_number("PORT", "8000")),
        emulator_port=int(_number("EMULATOR_PORT", "0")),
        admin_key=os.environ.get("IMAGE_API_ADMIN_KEY", "").strip(),
        image_server=os.environ.get("IMAGE_SERVER", "on").strip().lower() in ("on", "1", "true"),
        cleanup_seconds=float(_number("CLEANUP_INTERVAL_SECONDS", "60", float)),
        allow_loopback=_flag("IMAGE_SOURCE_ALLOW_LOOPBACK", True),
        persist=True,
        fresh=_flag("IMAGE_API_FRESH", False),
        sample_repo_port=sample_repo_port(),
    )


def check_port(port: int, variable: str) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} on 127.0.0.1 is in use (is another `make run` running?): "
                    f"stop it, or choose another port with {variable}=<port> make run") from exc
            raise StartupError(f"cannot use port {port} ({exc.strerror}); choose another "
                               f"with {variable}=<port>") from exc


def describe_admin_key(stack: Stack) -> str:
    where = layout.display(layout.admin_key_file())
    if stack.admin_key_origin == "given":
        return "Admin API key: $IMAGE_API_ADMIN_KEY"
    if stack.admin_key_origin == "generated":
        return f"Admin API key (user 'admin'): {stack.admin_key}  (stored in {where})"
    return f"Admin API key (user 'admin'): stored in {where} (`./imagectl admin-key` prints it)"


def main() -> int:
    try:
        options = options_from_env()
        check_port(options.port, "PORT")
        check_port(options.emulator_port, "EMULATOR_PORT")
        if options.sample_repo_port is not None:
            if options.sample_repo_port and options.sample_repo_port in (
                    options.port, options.emulator_port):
                raise StartupError(f"SAMPLE_REPO_PORT={options.sample_repo_port} is the port of "
                                   "the API or the emulator: choose another, or off")
            check_port(options.sample_repo_port, "SAMPLE_REPO_PORT")
        try:
            faults.configure_from_env()
        except ValueError as exc:
            raise StartupError(str(exc)) from None
    except StartupError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    from devstack import local_node_token
    node_token = local_node_token.ensure()
    stack = Stack(options).start()
    data = layout.display(layout.data_dir())
    print(f"Image API:    {stack.api_url}/\n"
          f"Console:      {stack.api.console_url}  (log in with a password: "
          "`./imagectl user password admin`)", flush=True)
    print(f"IMGAPI: {stack.imgapi_url}", flush=True)  # compute nodes' imgadm source (README)
    print("Node token:   " + ("$NODE_TOKEN" if node_token == "given" else
                              f"in {layout.display(local_node_token.token_file())}")
          + "  (imgadm sources -a http://node:<token>@<host>:<port>/imgapi)", flush=True)
    print(f"AWS emulator: {stack.emulator.url}", flush=True)
    print("Image server: " + (f"on (bucket {os.environ['IMAGE_STORE_BUCKET']})"
                              if options.image_server else "off (DB-only operations)"), flush=True)
    print(f"Data:         {data} " + ("(restored from the last run; IMAGE_API_FRESH=1 starts "
                                      "empty)" if stack.restored else "(new)"), flush=True)
    print(describe_admin_key(stack), flush=True)
    if stack.sample_repo is not None:
        print(f"Sample repo:  {stack.sample_repo.repository_url}  (serving the images below; "
              "`SAMPLE_REPO_PORT=off make run` starts without it)", flush=True)
        for line in stack.sample_repo.listing():
            print(f"Sample image: {line}", flush=True)
    if faults.plan() is not None:
        print(faults.describe(stack.emulator.url), flush=True)
    print("Ready. Press Ctrl-C to stop.", flush=True)

    done = threading.Event()
    # Ctrl-C and SIGTERM stop the stack. SIGINT gets an explicit handler: a process started
    # from a non-interactive shell's background job inherits SIGINT ignored.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: done.set())
    try:
        while not done.wait(1):
            pass
    finally:
        stack.stop()
        print(f"Stopped. Data saved in {data}.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
