"""`imagectl user ...`: users, their API keys, callback keys, passwords, roles and login locks."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from cli import output
from cli.dc_commands import NAME_HELP
from cli.errors import CliError
from cli.output import Output

ROLE_HELP = "ROLE (admin, image_admin, image_import_admin) in DC, which must exist"


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


def add_password_command(user: Any) -> None:
    password = user.add_parser("password", help="set the user's login password (asked twice "
                                                "on a terminal, else one line of stdin)")
    password.add_argument("name")
    password.set_defaults(func=cmd_user_password)


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
