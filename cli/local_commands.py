"""`imagectl admin-key|reset|repo serve`: commands about this machine's files only (the local
stack's stored key and data, a folder served as an image repository)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.errors import CliError
from cli.output import Output


def cmd_admin_key(args: argparse.Namespace) -> Output:
    from devstack import layout
    stored = layout.admin_key_file()
    if not stored.exists():
        raise CliError(f"no stored admin key ({layout.display(stored)}): the stack uses "
                       "$IMAGE_API_ADMIN_KEY, or has not been started yet")
    key = stored.read_text().strip()
    return Output({"admin_key": key}, key)


def cmd_reset(args: argparse.Namespace) -> str:
    """Forget the local stack's saved data (images, users, tasks, store objects)."""
    from devstack import layout
    from devstack.saved_state import SavedState
    if layout.state_file().exists():
        raise CliError("the local stack is running: stop `make run` first "
                       "(or start it with IMAGE_API_FRESH=1)")
    data = SavedState(layout.data_dir())
    if not data.exists:
        return "nothing to reset: no saved data"
    if not args.yes:
        answer = input(f"Delete every image, user, task and store object saved in "
                       f"{layout.display(layout.data_dir())}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("reset cancelled")
    data.erase()
    return "local stack data deleted; the next `make run` starts empty"


def cmd_repo_serve(args: argparse.Namespace) -> str:
    """Serve DIR's image files as an IMGAPI-layout repository until Ctrl-C (devstack.image_repo:
    the sample repository of `make run` is the same server)."""
    import signal
    import threading

    from devstack import image_repo
    directory = Path(args.dir)
    try:
        images = image_repo.folder_images(directory)
        repo = image_repo.ImageRepository(images, args.host, args.port)
    except image_repo.RepoError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        raise CliError("interrupted before serving") from None
    except OSError as exc:  # the port is taken, or the host is not an address of this machine
        raise CliError(f"cannot serve on {args.host} port {args.port} ({exc.strerror}): "
                       "choose another with --port N (0: any free port) or --host") from None
    done = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: done.set())
    repo.start()
    try:
        print(f"Serving {len(images)} image(s) from {directory} at {repo.repository_url} "
              "(Ctrl-C stops)", flush=True)
        for line in repo.listing():
            print(line, flush=True)
        done.wait()
    finally:
        repo.stop()
    return f"stopped serving {directory}"


def add_local_commands(groups: Any) -> None:
    """Commands about this machine's files only: the local stack's stored key and data
    (LOCAL_ONLY), and a folder served as an image repository (STANDALONE)."""
    key = groups.add_parser("admin-key", help="print the local stack's stored admin API key")
    key.set_defaults(func=cmd_admin_key)
    reset = groups.add_parser("reset", help="delete the local stack's saved data (the stack "
                                            "must be stopped); asks first")
    reset.add_argument("--yes", action="store_true", help="do not ask")
    reset.set_defaults(func=cmd_reset)
    add_repo_commands(groups)


def add_repo_commands(groups: Any) -> None:
    repo = groups.add_parser("repo", help="an image repository (IMGAPI layout) to import "
                                          "from").add_subparsers(dest="action", required=True)
    serve = repo.add_parser(
        "serve", help="serve DIR's image files until Ctrl-C; prints each manifest URL",
        description="Every *.gz, *.bz2 and *.xz file of DIR becomes an image at "
                    "/images/<uuid> (manifest) and /images/<uuid>/file: sha1 and size "
                    "computed, uuid derived from the sha1, name = the file name without its "
                    "suffixes, version 1.0, NAME.zfs.* a zone-dataset (os smartos), anything "
                    "else a zvol (os linux). A sidecar FILE.json may override any manifest "
                    "field but files (name, version, os, type, description, image_size, ...).")
    serve.add_argument("dir", metavar="DIR", help="the folder of image files")
    serve.add_argument("--port", type=int, default=8002,
                       help="port to listen on (default 8002; 0: any free port, printed)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1)")
    serve.set_defaults(func=cmd_repo_serve)
