"""imagectl: the operator's command line (datacenters, users, API keys and roles, images and
tasks as an operator sees them, compute nodes' export queues, platform events, cleanup;
`repo serve`: a folder of image files as an image repository to import from).

It talks to the local stack of this checkout (started by `make run`) by default, or to a real
AWS account with `--aws` (credentials and region as the AWS CLI finds them, tables named by
IMAGE_API_TABLE_PREFIX). `--json` (anywhere on the line) prints JSON on stdout for scripts.
Errors are one line on stderr; exit 2 for bad input, 1 for a failure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from cli import output
from cli.output import Output

LOCAL_ONLY = ("admin-key", "reset")  # commands about the local stack's own files
STANDALONE = ("repo",)               # commands that use neither the stack nor AWS


class CliError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """Every parser of imagectl: `--json` at any level, and a usage error as one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                          help="print JSON on stdout (for scripts)")

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"imagectl: {message} (see `{self.prog} --help`)\n")


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


def say(args: argparse.Namespace, line: str) -> None:
    """A progress line (people only: --json prints the final answer alone)."""
    if not getattr(args, "json", False):
        print(line, flush=True)


# --- datacenters -------------------------------------------------------------------------------
def cmd_dc_create(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    dc = accounts.dc_view(accounts.create_dc(args.name, args.image_limit))
    return Output(dc, f"datacenter {dc['name']} created (image limit: "
                      f"{output.limit_text(dc['image_limit'])})")


def cmd_dc_list(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    return output.dcs(accounts.list_dcs())


def cmd_dc_show(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    return output.dc(accounts.show_dc(args.name))


def cmd_dc_delete(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    accounts.delete_dc(args.name)
    return Output({"name": args.name, "deleted": True}, f"datacenter {args.name} deleted")


def cmd_dc_set_limit(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    dc = accounts.set_image_limit(args.name, args.limit)
    note = ""
    if dc["image_limit"] is not None and dc["image_count"] > dc["image_limit"]:
        note = f"; {dc['image_count']} images are bound already: no new ones until fewer"
    return output.dc(dc, f"image limit of {dc['name']}: "
                         f"{output.limit_text(dc['image_limit'])}{note}")


def cmd_dc_trust_key(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import dc_trust
    key = dc_trust.parse_key(args.key)
    view = dc_trust.trust_key(args.name, args.key)
    return output.dc_trust(view, f"{args.name} trusts key {key.key_id}")


def cmd_dc_untrust_key(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import dc_trust
    view = dc_trust.untrust_key(args.name, args.key_id)
    return output.dc_trust(view, f"{args.name} no longer trusts key {args.key_id.upper()}")


def cmd_dc_require_signed(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import dc_trust
    on = dc_trust.parse_switch(args.switch)
    view = dc_trust.set_signed_only(args.name, on)
    note = "" if not on or view["trusted_keys"] else \
        " (it trusts no key yet: every import and upload is refused until it does)"
    return output.dc_trust(view, f"{args.name} accepts "
                                 f"{'signed images only' if on else 'unsigned images too'}{note}")


# --- users -------------------------------------------------------------------------------------
def cmd_user_create(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    roles = accounts.parse_roles(args.role or [])
    key = accounts.create_user(args.name, super_admin=args.super_admin, roles=roles)
    return Output({"username": args.name, "api_key": key}, f"user {args.name} created\n{key}")


def cmd_user_list(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    return output.users(accounts.list_users())


def cmd_user_show(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    return output.user(accounts.show_user(args.name))


def cmd_user_delete(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    accounts.delete_user(args.name)
    return Output({"username": args.name, "deleted": True}, f"user {args.name} deleted")


def cmd_user_activate(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    view = accounts.set_active(args.name, args.action == "activate")
    state = "active" if view["active"] else \
        f"deactivated: its key and login stop working {revocation_delay()}"
    return output.user(view, f"user {args.name} {state}")


def revocation_delay() -> str:
    """When a revocation written to the users table reaches every API container: each keeps
    an authenticated key or token for AUTH_CACHE_SECONDS (README "Revocation")."""
    from chalicelib.config import settings
    seconds = settings().auth_cache_seconds
    if seconds <= 0:
        return "at once (AUTH_CACHE_SECONDS=0: no container caches a key)"
    return (f"within {seconds:g} s (AUTH_CACHE_SECONDS: how long an API container "
            "trusts a key it has checked)")


def cmd_user_locks(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import login_throttle
    locks = login_throttle.locks(args.name)
    return Output({"username": args.name, "login_locks": locks},
                  f"failed logins of {args.name}: {output.locks_text(locks)}")


def cmd_user_unlock(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import login_throttle
    removed = login_throttle.lift(args.name)
    return Output({"username": args.name, "counts_removed": removed},
                  f"logins of {args.name} unlocked ({removed} failed-login counts forgotten)")


def cmd_user_role(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    change = accounts.add_roles if args.role_action == "add" else accounts.remove_roles
    view = change(args.name, args.roles)
    return output.user(view, f"roles of {args.name}: "
                             f"{output.roles_text(view['dc_roles']) or 'none'}")


def cmd_user_key(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    key = accounts.rotate_key(args.name)
    return Output({"username": args.name, "api_key": key},
                  f"new API key for {args.name} (the previous key stops working "
                  f"{revocation_delay()})\n{key}")


def cmd_user_callback_key(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    key = accounts.callback_key(args.name, rotate=args.rotate)
    data = {"username": args.name, "callback_key": key}
    if args.rotate:
        return Output(data, f"new callback key for {args.name} (receivers must use it from "
                            f"now on)\n{key}")
    return Output(data, f"callback key of {args.name} (HMAC-SHA256 key of ES-Signature)\n{key}")


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


def cmd_user_password(args: argparse.Namespace) -> Output:
    from chalicelib.services.identity import accounts
    accounts.set_password(args.name, read_password())
    return Output({"username": args.name, "password": True},
                  f"password of {args.name} set: it may log in (POST /accounts/login); "
                  "its previous login token no longer works")


# --- images and tasks --------------------------------------------------------------------------
def cmd_image_list(args: argparse.Namespace) -> Output:
    from chalicelib.services.maintenance import operator_views
    return output.images(operator_views.list_images(dc=args.dc, status=args.status))


def cmd_image_upload(args: argparse.Namespace) -> str:
    """An image from a local file, through the public API (cli/upload.py)."""
    from cli import upload
    api = upload.Api(api_url(args.api_url), api_key())
    try:
        manifest = upload.manifest_of(Path(args.file), Path(args.manifest) if args.manifest
                                      else None)
        code = upload.upload(api, args.name, Path(args.file), manifest, args.dc)
    except upload.UploadError as exc:
        raise CliError(str(exc)) from None
    if code:
        raise UploadFailed()
    return ""


class UploadFailed(Exception):
    """The task failed; its message is printed already."""


def api_url(given: str | None) -> str:
    """--api-url, else $IMAGE_API_URL, else the running local stack's."""
    from devstack import layout
    url = given or os.environ.get("IMAGE_API_URL")
    if not url and layout.state_file().exists():
        url = json.loads(layout.state_file().read_text()).get("api_url")
    if not url:
        raise CliError("no API: pass --api-url, set IMAGE_API_URL or start the local stack")
    return str(url)


def api_key() -> str:
    """$ES_API_KEY (never an argument: those show in `ps`), else the local stack's admin key."""
    from devstack import layout
    key = os.environ.get("ES_API_KEY", "")
    if not key and layout.admin_key_file().exists():
        key = layout.admin_key_file().read_text().strip()
    if not key:
        raise CliError("no API key: set ES_API_KEY")
    return key


def add_upload_command(image: Any) -> None:
    command = image.add_parser(
        "upload", help="upload an image from a local file through the API (parts in "
                       "parallel; run again to resume)")
    command.add_argument("name")
    command.add_argument("file")
    command.add_argument("--manifest", metavar="M.json",
                         help="the image's manifest (default: built from the file, as "
                              "`repo serve` does)")
    command.add_argument("--dc", help="the datacenter to bind the image to (default: the "
                                      "API's default DC)")
    command.add_argument("--api-url", help="the API's base URL, e.g. http://127.0.0.1:8000/api "
                                           "(default: $IMAGE_API_URL, or the local stack's)")
    command.set_defaults(func=cmd_image_upload, standalone=True)


def cmd_task_list(args: argparse.Namespace) -> Output:
    from chalicelib.services.maintenance import operator_views
    return output.tasks(operator_views.list_tasks(running=args.running, dc=args.dc,
                                                  user=args.user, limit=args.limit))


def cmd_task_show(args: argparse.Namespace) -> Output:
    from chalicelib.services.maintenance import operator_views
    if not args.follow:
        return output.task(operator_views.show_task(args.id))
    if args.interval <= 0:
        raise CliError("--interval must be a number of seconds > 0")
    detail: dict[str, Any] = {}
    for detail in operator_views.follow_task(args.id, interval=args.interval):
        say(args, output.task_line(detail))
    return output.task(detail, "")


def cmd_task_cancel(args: argparse.Namespace) -> Output:
    from chalicelib.services.maintenance import operator_views
    detail = operator_views.cancel_task(args.id)
    return output.task(detail, f"task {args.id} cancelled: {detail['status']}")


# --- compute nodes -----------------------------------------------------------------------------
def cmd_node_add(args: argparse.Namespace) -> Output:
    """A compute node's export queue (made now rather than at its first export), and what its
    agent's configuration and IAM identity need."""
    from chalicelib.adapters import node_queues
    from chalicelib.domain.platform_events import NAME_RE
    if not NAME_RE.match(args.name):
        raise CliError(f"{args.name!r} is not a valid node name (letters, digits, '.', '_', "
                       "'@', '-'; as the platform's VM events name nodes)")
    url = node_queues.ensure(args.name)
    queue = node_queues.queue_name(args.name)
    return Output({"node": args.name, "queue": queue, "queue_url": url,
                   "iam_tag": f"imageapi-export-queue={queue}"},
                  f"export queue of node {args.name}: {queue}\n"
                  f"agent setting:  queue_url = \"{url}\"\n"
                  f"IAM tag of the node's role or user (NodeAgentPolicy): "
                  f"imageapi-export-queue={queue}")


def cmd_node_list(args: argparse.Namespace) -> Output:
    from chalicelib.adapters import node_queues
    queues = node_queues.listed()
    return Output(queues, "\n".join(queues) if queues else "no export queues yet")


def check_event(file: str, entry: dict[str, Any]) -> str:
    """The event's detail-type, when the service would accept the event (the handler's own
    parser: chalicelib/domain/platform_events.py, whose rules the JSON Schemas in
    chalicelib/schemas/events/ write down); else CliError `FILE: <field>: <what is wrong>`."""
    from chalicelib.domain import platform_events
    try:
        detail = json.loads(entry["Detail"])
    except ValueError as exc:
        raise CliError(f"{file}: Detail is not JSON: {exc}") from None
    try:
        kind, _ = platform_events.parse(entry["DetailType"], detail)
    except platform_events.MalformedEvent as exc:
        raise CliError(f"{file}: {exc}") from None
    return kind


def cmd_event_validate(args: argparse.Namespace) -> Output:
    """Only checks FILE (no stack, no AWS): what `event put` would check before sending."""
    kind = check_event(args.file, load_event(Path(args.file)))
    return Output({"valid": True, "detail_type": kind}, f"valid {kind} event")


def cmd_event_put(args: argparse.Namespace) -> str:
    entry = load_event(Path(args.file))
    check_event(args.file, entry)  # a malformed event would only be dropped by the service
    import boto3

    from chalicelib.domain import names
    # the platform's bus: the only one the service listens to for platform events
    entry["EventBusName"] = names.platform_event_bus_name(os.environ["IMAGE_API_TABLE_PREFIX"])
    result = boto3.client("events").put_events(Entries=[entry])
    if result.get("FailedEntryCount"):
        raise CliError(f"event rejected: {result['Entries']}")
    return f"event {result['Entries'][0].get('EventId', '')} put ({entry['DetailType']})"


def cmd_iam_policy(args: argparse.Namespace) -> Output:
    from chalicelib.domain import names
    from cli.operator_policy import operator_policy
    prefix = os.environ.get("IMAGE_API_TABLE_PREFIX", "").strip() or names.DEFAULT_PREFIX
    policy = operator_policy(prefix)
    return Output(policy, json.dumps(policy, indent=2))


def cmd_cleanup(args: argparse.Namespace) -> Output:
    from chalicelib.services.maintenance import cleanup
    say(args, "cleanup: finishing stuck tasks, repairing pending images, removing leftover "
              "checkpoints, stale uploads, orphaned objects and expired records"
              + (" (dry run: nothing is changed)" if args.dry_run else "") + " ...")
    def progress(job: str, result: object) -> None:  # a line per job, as it runs
        if result is None:
            say(args, f"  {job.replace('_', ' ')} ...")
        else:
            count = len(result) if isinstance(result, list) else result
            say(args, f"  {job.replace('_', ' ')}: {count}")

    report = cleanup.run(dry_run=args.dry_run, progress=progress)
    return output.cleanup(report.as_dict())


def cmd_migrate(args: argparse.Namespace) -> Output:
    from chalicelib.services.maintenance import catalogue_migration
    say(args, "migrate: adding the catalogue's index keys to images and the image uses of "
              "VMs (resumable: run again after an interruption) ...")
    report = catalogue_migration.migrate(progress=lambda line: say(args, "  " + line))
    summary = report.as_dict()
    return Output(summary, " ".join(f"{key}={value}" for key, value in summary.items()))


# --- the local stack's own files ---------------------------------------------------------------
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


NAME_HELP = "as the platform names users and DCs: letters, digits, '.', '_', '@', '-'"
ROLE_HELP = "ROLE (admin, image_admin, image_import_admin) in DC, which must exist"


def add_dc_commands(groups: Any) -> None:
    dc = groups.add_parser("dc", help="datacenters").add_subparsers(dest="action", required=True)
    create = dc.add_parser("create", help="create a datacenter")
    create.add_argument("name", help=NAME_HELP)
    create.add_argument("--image-limit", default=None, metavar="N",
                        help="maximum number of images bound to the DC, a whole number >= 0 "
                             "(default: unlimited)")
    create.set_defaults(func=cmd_dc_create)
    dc.add_parser("list", help="every datacenter: images bound, image limit").set_defaults(
        func=cmd_dc_list)
    show = dc.add_parser("show", help="one datacenter: its bound images and users with roles")
    show.add_argument("name")
    show.set_defaults(func=cmd_dc_show)
    delete = dc.add_parser("delete", help="delete a datacenter (refused while images are "
                                          "bound to it, and for the default DC)")
    delete.add_argument("name")
    delete.set_defaults(func=cmd_dc_delete)
    limit = dc.add_parser("set-limit", help="set the DC's image limit (N >= 0, or none)")
    limit.add_argument("name")
    limit.add_argument("limit", metavar="N|none")
    limit.set_defaults(func=cmd_dc_set_limit)
    trust = dc.add_parser("trust-key", help="trust a minisign public key for signed images "
                                            "(SPEC §4.14)")
    trust.add_argument("name")
    trust.add_argument("key", help="the whole `minisign -G` .pub text, or its base64 line")
    trust.set_defaults(func=cmd_dc_trust_key)
    untrust = dc.add_parser("untrust-key", help="stop trusting a key")
    untrust.add_argument("name")
    untrust.add_argument("key_id", metavar="KEYID", help="16 hex digits, as `dc show` lists it")
    untrust.set_defaults(func=cmd_dc_untrust_key)
    signed = dc.add_parser("require-signed", help="accept signed images only (on) or also "
                                                  "unsigned ones (off)")
    signed.add_argument("name")
    signed.add_argument("switch", metavar="on|off")
    signed.set_defaults(func=cmd_dc_require_signed)


def add_user_commands(groups: Any) -> None:
    user = groups.add_parser("user", help="users, API keys and roles").add_subparsers(
        dest="action", required=True)
    create = user.add_parser("create", help="create a user; prints its API key last")
    create.add_argument("name", help=NAME_HELP)
    create.add_argument("--super-admin", action="store_true", help="make the user a SuperAdmin")
    create.add_argument("--role", action="append", metavar="DC:ROLE",
                        help=f"grant {ROLE_HELP}; repeatable")
    create.set_defaults(func=cmd_user_create)
    user.add_parser("list", help="every user: SuperAdmin, active, key, password, roles"
                    ).set_defaults(func=cmd_user_list)
    for action, text in (("show", "one user (never its keys)"),
                         ("delete", "delete a user (refused for the last active SuperAdmin)"),
                         ("deactivate", "its key and login stop working (refused for the "
                                        "last active SuperAdmin)"),
                         ("activate", "its key and login work again")):
        command = user.add_parser(action, help=text)
        command.add_argument("name")
        command.set_defaults(func={"show": cmd_user_show, "delete": cmd_user_delete}.get(
            action, cmd_user_activate))
    role = user.add_parser("role", help="grant or take away roles").add_subparsers(
        dest="role_action", required=True)
    for action, text in (("add", f"grant {ROLE_HELP}"),
                         ("remove", "take away ROLE in DC (a role not held is no error)")):
        command = role.add_parser(action, help=text)
        command.add_argument("name")
        command.add_argument("roles", nargs="+", metavar="DC:ROLE")
        command.set_defaults(func=cmd_user_role)
    for action, text, run in (
            ("locks", "failed-login counts and locks of a name (a user's or not), "
                      "per client address and for all addresses", cmd_user_locks),
            ("unlock", "lift every failed-login lock of a name", cmd_user_unlock)):
        command = user.add_parser(action, help=text)
        command.add_argument("name")
        command.set_defaults(func=run)
    key = user.add_parser("key", help="issue a new API key (revokes the old one); prints it last")
    key.add_argument("name")
    key.set_defaults(func=cmd_user_key)
    cb_key = user.add_parser("callback-key", help="show the key that signs the user's "
                                                  "callbacks (ES-Signature); prints it last")
    cb_key.add_argument("name")
    cb_key.add_argument("--rotate", action="store_true", help="replace it with a new key")
    cb_key.set_defaults(func=cmd_user_callback_key)
    add_password_command(user)


def add_image_and_task_commands(groups: Any) -> None:
    image = groups.add_parser("image", help="images, as an operator sees them (read only)"
                              ).add_subparsers(dest="action", required=True)
    listed = image.add_parser("list", help="every image: name, uuid, DC bound, status, owner, "
                                           "size, the task holding it")
    listed.add_argument("--dc", help="only images bound or attached to this DC")
    listed.add_argument("--status", choices=("ok", "pending"), help="only images in this status")
    listed.set_defaults(func=cmd_image_list)
    add_upload_command(image)

    task = groups.add_parser("task", help="tasks of all users and DCs").add_subparsers(
        dest="action", required=True)
    listed = task.add_parser("list", help="the newest tasks first")
    listed.add_argument("--running", action="store_true", help="only tasks that have not ended")
    listed.add_argument("--dc", help="only tasks of this DC")
    listed.add_argument("--user", metavar="NAME", help="only tasks this user created")
    listed.add_argument("--limit", default="50", metavar="N",
                        help="at most N tasks, 1-1000 as GET /task/log's limit (default 50)")
    listed.set_defaults(func=cmd_task_list)
    show = task.add_parser("show", help="one task: status, progress, result")
    show.add_argument("id")
    show.add_argument("--follow", action="store_true",
                      help="print a line at each change until the task ends, then the task")
    show.add_argument("--interval", type=float, default=2.0, metavar="SECONDS",
                      help="how often --follow looks (default 2)")
    show.set_defaults(func=cmd_task_show)
    cancel = task.add_parser("cancel", help="cancel a running task as a SuperAdmin would "
                                            "(PUT /task/<id>/cancel): stopped and rolled back")
    cancel.add_argument("id")
    cancel.set_defaults(func=cmd_task_cancel)


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="imagectl", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--aws", action="store_true",
                     help="manage a deployment in AWS instead of the local stack (the IAM "
                          "policy this needs: `imagectl iam-policy`)")
    groups = top.add_subparsers(dest="group", required=True)
    add_dc_commands(groups)
    add_user_commands(groups)
    add_image_and_task_commands(groups)

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
    put = event.add_parser("put", help='check, then put an event from FILE holding '
                                       '{"Source", "DetailType", "Detail"}')
    put.add_argument("file")
    put.set_defaults(func=cmd_event_put)
    validate = event.add_parser(
        "validate", help="check an event FILE as the service would, send nothing (needs "
                         "neither the stack nor AWS); schemas: chalicelib/schemas/events/")
    validate.add_argument("file")
    validate.set_defaults(func=cmd_event_validate, standalone=True)

    clean = groups.add_parser("cleanup", help="run the scheduled cleanup now (SPEC §9): finish "
                                              "stuck tasks, repair pending images, abort stale "
                                              "uploads, delete orphaned store objects")
    clean.add_argument("--dry-run", action="store_true", help="report, change nothing")
    clean.set_defaults(func=cmd_cleanup)
    groups.add_parser("migrate", help="backfill the catalogue's index keys and image uses "
                                      "(resumable, idempotent, with progress)"
                      ).set_defaults(func=cmd_migrate)

    iam = groups.add_parser("iam-policy", help="print the IAM policy `imagectl --aws` needs "
                                               "for the stage IMAGE_API_TABLE_PREFIX names")
    iam.set_defaults(func=cmd_iam_policy, standalone=True)

    add_local_commands(groups)
    return top


BAD_INPUT = (("chalicelib.services.identity.accounts", "InvalidAccountInput"),
             ("chalicelib.services.maintenance.operator_views", "BadFilter"))


def is_bad_input(exc: Exception) -> bool:
    """The services' "this input breaks a rule" errors: exit 2, like a usage error (looked
    up only in modules the command imported)."""
    return any(isinstance(exc, getattr(sys.modules[module], name))
               for module, name in BAD_INPUT if module in sys.modules)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error, already printed (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.group in LOCAL_ONLY:
            if args.aws:
                raise CliError(f"`{args.group}` is about the local stack only")
        elif args.group not in STANDALONE and not getattr(args, "standalone", False):
            target_environment(args.aws)
        output.emit(args.func(args), getattr(args, "json", False), sys.stdout)
        return 0
    except CliError as exc:
        return fail(exc, 2)
    except KeyboardInterrupt:
        print("imagectl: interrupted", file=sys.stderr)
        return 130
    except UploadFailed:
        return 1
    except Exception as exc:  # AccountError and AWS errors: one line, no traceback
        return fail(exc, 2 if is_bad_input(exc) else 1)


def fail(exc: Exception, code: int) -> int:
    text = " ".join(str(exc).split()) or type(exc).__name__
    print(f"imagectl: {text}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
