"""imagectl: the operator's command line (datacenters, users, API keys, compute nodes'
export queues, platform events, cleanup; `repo serve`: a folder of image files as an image
repository to import from).

It talks to the local stack of this checkout (started by `make run`) by default, or to a real
AWS account with `--aws` (credentials and region as the AWS CLI finds them, tables named by
IMAGE_API_TABLE_PREFIX).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LOCAL_ONLY = ("admin-key", "reset")  # commands about the local stack's own files
STANDALONE = ("repo",)               # commands that use neither the stack nor AWS


class CliError(Exception):
    pass


def target_environment(use_aws: bool) -> None:
    """Point boto3/PynamoDB at the local stack (or leave AWS defaults) before models load."""
    from devstack import layout
    if use_aws:
        if not os.environ.get("IMAGE_API_TABLE_PREFIX"):
            raise CliError("--aws needs IMAGE_API_TABLE_PREFIX (e.g. imageapi-prod)")
        return
    state_file = layout.state_file()
    if not state_file.exists():
        raise CliError("the local stack is not running (start it with `make run`), "
                       "or pass --aws to manage a deployment")
    state = json.loads(state_file.read_text())
    from devstack.emulator import point_clients_at
    url = state["emulator_url"]
    point_clients_at(url, int(url.rsplit(":", 1)[1]))
    os.environ["IMAGE_API_TABLE_PREFIX"] = state["table_prefix"]
    os.environ.update(state.get("env", {}))


def cmd_dc_create(args: argparse.Namespace) -> str:
    from chalicelib.services.identity import accounts
    dc = accounts.create_dc(args.name, args.image_limit)
    limit = "unlimited" if dc.image_limit is None else dc.image_limit
    return f"datacenter {dc.name} created (image limit: {limit})"


def cmd_user_create(args: argparse.Namespace) -> str:
    from chalicelib.services.identity import accounts
    roles = accounts.parse_roles(args.role or [])
    key = accounts.create_user(args.name, super_admin=args.super_admin, roles=roles)
    return f"user {args.name} created\n{key}"


def cmd_user_key(args: argparse.Namespace) -> str:
    from chalicelib.services.identity import accounts
    key = accounts.rotate_key(args.name)
    return f"new API key for {args.name} (the previous key no longer works)\n{key}"


def cmd_user_callback_key(args: argparse.Namespace) -> str:
    from chalicelib.services.identity import accounts
    key = accounts.callback_key(args.name, rotate=args.rotate)
    if args.rotate:
        return f"new callback key for {args.name} (receivers must use it from now on)\n{key}"
    return f"callback key of {args.name} (HMAC-SHA256 key of ES-Signature)\n{key}"


def read_password() -> str:
    """Asked twice without echo on a terminal; otherwise the first line of stdin (scripts:
    `printf '%s\n' "$PW" | ./imagectl user password alice`). Never an argument: arguments
    show in `ps` and in shell histories."""
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass
        first = getpass.getpass("New password: ")
        if first != getpass.getpass("New password (again): "):
            raise CliError("the passwords do not match; nothing changed")
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise CliError("no password on stdin (one line is read); nothing changed")
    return password


def cmd_user_password(args: argparse.Namespace) -> str:
    from chalicelib.services.identity import accounts
    accounts.set_password(args.name, read_password())
    return (f"password of {args.name} set: it may log in (POST /accounts/login); "
            "its previous login token no longer works")


def cmd_node_add(args: argparse.Namespace) -> str:
    """A compute node's export queue (made now rather than at its first export), and what its
    agent's configuration and IAM identity need."""
    from chalicelib.adapters import node_queues
    from chalicelib.domain.platform_events import NAME_RE
    if not NAME_RE.match(args.name):
        raise CliError(f"{args.name!r} is not a valid node name (letters, digits, '.', '_', "
                       "'@', '-'; as the platform's VM events name nodes)")
    url = node_queues.ensure(args.name)
    return (f"export queue of node {args.name}: {node_queues.queue_name(args.name)}\n"
            f"agent setting:  queue_url = \"{url}\"\n"
            f"IAM tag of the node's role or user (NodeAgentPolicy): "
            f"imageapi-export-queue={node_queues.queue_name(args.name)}")


def cmd_node_list(args: argparse.Namespace) -> str:
    from chalicelib.adapters import node_queues
    queues = node_queues.listed()
    return "\n".join(queues) if queues else "no export queues yet"


def cmd_event_put(args: argparse.Namespace) -> str:
    entry = load_event(Path(args.file))
    import boto3

    from chalicelib.domain import names
    # the platform's bus: the only one the service listens to for platform events
    entry["EventBusName"] = names.platform_event_bus_name(os.environ["IMAGE_API_TABLE_PREFIX"])
    result = boto3.client("events").put_events(Entries=[entry])
    if result.get("FailedEntryCount"):
        raise CliError(f"event rejected: {result['Entries']}")
    return f"event {result['Entries'][0].get('EventId', '')} put ({entry['DetailType']})"


def cmd_cleanup(args: argparse.Namespace) -> str:
    from chalicelib.services.maintenance import cleanup
    report = cleanup.run(dry_run=args.dry_run)
    return json.dumps(report.as_dict(), indent=2)


def cmd_admin_key(args: argparse.Namespace) -> str:
    from devstack import layout
    stored = layout.admin_key_file()
    if not stored.exists():
        raise CliError(f"no stored admin key ({layout.display(stored)}): the stack uses "
                       "$IMAGE_API_ADMIN_KEY, or has not been started yet")
    return stored.read_text().strip()


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


def load_event(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read event file {path}: {exc}") from exc
    if not isinstance(data, dict) or not {"Source", "DetailType", "Detail"} <= set(data):
        raise CliError('the event file must hold {"Source", "DetailType", "Detail"}')
    detail = data["Detail"]
    return {"Source": data["Source"], "DetailType": data["DetailType"],
            "Detail": detail if isinstance(detail, str) else json.dumps(detail)}


def add_password_command(user: Any) -> None:
    password = user.add_parser("password", help="set the user's login password (asked twice "
                                                "on a terminal, else one line of stdin)")
    password.add_argument("name")
    password.set_defaults(func=cmd_user_password)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="imagectl", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--aws", action="store_true",
                     help="manage a deployment in AWS instead of the local stack")
    groups = top.add_subparsers(dest="group", required=True)

    dc = groups.add_parser("dc", help="datacenters").add_subparsers(dest="action", required=True)
    create = dc.add_parser("create", help="create a datacenter")
    create.add_argument("name")
    create.add_argument("--image-limit", type=int, default=None,
                        help="maximum number of images bound to the DC (default: unlimited)")
    create.set_defaults(func=cmd_dc_create)

    user = groups.add_parser("user", help="users and API keys").add_subparsers(
        dest="action", required=True)
    create = user.add_parser("create", help="create a user; prints its API key last")
    create.add_argument("name")
    create.add_argument("--super-admin", action="store_true", help="make the user a SuperAdmin")
    create.add_argument("--role", action="append", metavar="DC:ROLE",
                        help="grant ROLE (admin, image_admin, image_import_admin) in DC; "
                             "repeatable")
    create.set_defaults(func=cmd_user_create)
    key = user.add_parser("key", help="issue a new API key (revokes the old one); prints it last")
    key.add_argument("name")
    key.set_defaults(func=cmd_user_key)
    cb_key = user.add_parser("callback-key", help="show the key that signs the user's "
                                                  "callbacks (ES-Signature); prints it last")
    cb_key.add_argument("name")
    cb_key.add_argument("--rotate", action="store_true", help="replace it with a new key")
    cb_key.set_defaults(func=cmd_user_callback_key)
    add_password_command(user)

    node = groups.add_parser("node", help="compute nodes' export queues (README \"Snapshot "
                                          "export\")").add_subparsers(dest="action",
                                                                      required=True)
    add = node.add_parser("add", help="create a node's export queue; prints its URL for the "
                                      "node agent's queue_url")
    add.add_argument("name", help="the node's name, as the platform's VM events give it")
    add.set_defaults(func=cmd_node_add)
    listed = node.add_parser("list", help="the nodes' export queues (URLs)")
    listed.set_defaults(func=cmd_node_list)

    event = groups.add_parser("event", help="platform events").add_subparsers(
        dest="action", required=True)
    put = event.add_parser("put", help='put an event from FILE holding '
                                       '{"Source", "DetailType", "Detail"}')
    put.add_argument("file")
    put.set_defaults(func=cmd_event_put)

    clean = groups.add_parser("cleanup", help="run the scheduled cleanup now (SPEC §9): finish "
                                              "stuck tasks, repair pending images, abort stale "
                                              "uploads, delete orphaned store objects")
    clean.add_argument("--dry-run", action="store_true", help="report, change nothing")
    clean.set_defaults(func=cmd_cleanup)

    add_local_commands(groups)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.group in LOCAL_ONLY:
            if args.aws:
                raise CliError(f"`{args.group}` is about the local stack only")
        elif args.group not in STANDALONE:
            target_environment(args.aws)
        print(args.func(args))
        return 0
    except CliError as exc:
        print(f"imagectl: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # AccountError and AWS errors: one line, no traceback
        print(f"imagectl: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
