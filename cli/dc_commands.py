"""`imagectl dc ...`: datacenters, their image limits and the minisign keys they trust."""
from __future__ import annotations

import argparse
from typing import Any

from cli import output
from cli.output import Output

NAME_HELP = "as the platform names users and DCs: letters, digits, '.', '_', '@', '-'"


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
