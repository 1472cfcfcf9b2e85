"""`imagectl image ...` and `imagectl task ...`: images and tasks as an operator sees them,
an upload through the public API, the SHA-256 backfill."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from cli import output
from cli.errors import CliError
from cli.output import Output, say


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


def cmd_image_digest(args: argparse.Namespace) -> Output:
    """SHA-256 of stored files that lack it (SPEC §4.14; digest_backfill)."""
    from chalicelib.services.maintenance import digest_backfill
    if bool(args.name) == bool(args.all):
        raise CliError("name one image, or --all")
    report = digest_backfill.backfill([args.name] if args.name else None,
                                      progress=lambda line: say(args, "digest: " + line))
    for line in report.skipped + report.problems:
        say(args, "digest: " + line)
    if report.problems:
        raise DigestProblems(f"{len(report.problems)} stored file(s) do not match their "
                             f"record: {'; '.join(report.problems)}")
    return Output(report.as_dict(), f"filled={report.filled} known={report.known} "
                                    f"skipped={len(report.skipped)} "
                                    f"repaired={len(report.repaired)} "
                                    f"bytes_read={report.bytes_read}")


class DigestProblems(Exception):
    """Files whose SHA-1 is not their record's: nothing written for them (exit 1)."""


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


def add_image_and_task_commands(groups: Any) -> None:
    image = groups.add_parser("image", help="images, as an operator sees them (read only, but "
                                            "for their files' SHA-256)"
                              ).add_subparsers(dest="action", required=True)
    listed = image.add_parser("list", help="every image: name, uuid, DC bound, status, owner, "
                                           "size, the task holding it")
    listed.add_argument("--dc", help="only images bound or attached to this DC")
    listed.add_argument("--status", choices=("ok", "pending"), help="only images in this status")
    listed.set_defaults(func=cmd_image_list)
    add_upload_command(image)
    digest = image.add_parser("digest", help="compute the SHA-256 of stored files that lack it "
                                             "(images stored before SHA-256): streamed from "
                                             "the store, resumable, idempotent, with progress")
    digest.add_argument("name", nargs="?", help="one image (or --all)")
    digest.add_argument("--all", action="store_true", help="every image lacking it")
    digest.set_defaults(func=cmd_image_digest)

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
