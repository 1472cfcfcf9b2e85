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
from typing import Any, NoReturn

from cli import output
from cli.dc_commands import add_dc_commands
from cli.deployment_commands import add_deployment_commands
from cli.errors import CliError
from cli.image_and_task_commands import UploadFailed, add_image_and_task_commands
from cli.local_commands import add_local_commands
from cli.user_commands import add_user_commands

LOCAL_ONLY = ("admin-key", "reset")  # commands about the local stack's own files
STANDALONE = ("repo",)               # commands that use neither the stack nor AWS


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
    add_deployment_commands(groups)
    add_local_commands(groups)
    return top


BAD_INPUT = (("chalicelib.services.identity.accounts", "InvalidAccountInput"),
             ("chalicelib.services.maintenance.operator_views", "BadFilter"),
             ("chalicelib.services.maintenance.digest_backfill", "NoSuchImage"))


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
