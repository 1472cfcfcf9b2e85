"""`imagectl node|event|iam-policy|cleanup|migrate`: the deployment's machinery (compute
nodes' export queues, platform events, the operator's IAM policy, the scheduled cleanup, the
catalogue migration)."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from cli import output
from cli.errors import CliError
from cli.output import Output, say


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


def add_deployment_commands(groups: Any) -> None:
    """node, event, cleanup, migrate and iam-policy, in this order in `--help`."""
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
