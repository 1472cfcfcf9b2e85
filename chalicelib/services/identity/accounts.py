"""Users, API keys and datacenters as the operator manages them (CLI and local stack).

Names and limits follow the rules the service already applies to what the platform sends:
a user or DC name as "User State"/"DC State" events name them (`platform_events.NAME_RE`, at
most `limits.MAX_USERNAME_CHARS`), an image limit as "DC State" takes it (a whole number
>= 0, or none), roles as `permissions.ROLES`. `InvalidAccountInput` is bad input (the CLI
exits 2); any other `AccountError` is a refusal or a missing record (exit 1).
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import platform_events
from chalicelib.domain.account_forms import is_entity_name
from chalicelib.domain.fields import to_int
from chalicelib.domain.limits import key_fits
from chalicelib.domain.passwords import hash_password
from chalicelib.domain.permissions import ROLES
from chalicelib.persistence import records
from chalicelib.persistence.conditional import (
    conditional_delete,
    conditional_save,
    conditional_update,
)
from chalicelib.persistence.models import Datacenter, Image, User, get_or_none
from chalicelib.services.identity import login_throttle
from chalicelib.services.identity.authentication import forget_cache, hash_key, new_key


class AccountError(Exception):
    pass


class InvalidAccountInput(AccountError):
    """The input breaks a rule (a name, a limit, a role): nothing was looked up or changed."""


class LastSuperAdmin(AccountError):
    """The change would leave no active SuperAdmin."""


class ChangedMeanwhile(AccountError):
    """The user kept changing under a guarded write: nothing was written; try again."""


# ---------------------------------------------------------------------------------------------
# Rules (the platform events' rules, so a name the platform may send is one the operator may
# type, and the other way round)
# ---------------------------------------------------------------------------------------------
def check_name(kind: str, name: Any) -> str:
    """A user or DC name: as a "User State"/"DC State" event must name it."""
    if not is_entity_name(name):
        shown = name if isinstance(name, str) and len(name) <= 40 else f"{str(name)[:40]}..."
        raise InvalidAccountInput(
            f"{shown!r} is not a valid {kind} name ({platform_events.NAME_RULE})")
    return name


def check_username(name: Any) -> str:
    return check_name("user", name)


def check_dc_name(name: Any) -> str:
    return check_name("datacenter", name)


def parse_image_limit(raw: Any) -> int | None:
    """`none` (or None) for no limit, else a whole number >= 0: the API's integer spelling
    (`fields.to_int`) checked as a "DC State" event's `image_limit` is."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() == "none"):
        return None
    value, error = to_int(raw)
    if error is None:
        try:
            platform_events.dc_state({"name": "x", "image_limit": value, "version": 0})
        except platform_events.MalformedEvent:
            error = "negative"
    if error is not None:
        raise InvalidAccountInput(f"invalid image limit {raw!r}: a whole number >= 0, or none")
    return int(value)


def parse_roles(specs: Iterable[str]) -> dict[str, list[str]]:
    """`DC:ROLE` strings -> {dc: [roles]}; unknown roles are an error, not ignored."""
    roles: dict[str, set[str]] = {}
    for spec in specs:
        dc, sep, role = spec.partition(":")
        if not sep or not dc or role not in ROLES:
            raise InvalidAccountInput(f"invalid role {spec!r}: expected DC:ROLE with ROLE one of "
                               f"{', '.join(sorted(ROLES))}")
        roles.setdefault(check_dc_name(dc), set()).add(role)
    return {dc: sorted(names) for dc, names in roles.items()}


def missing_dcs(dcs: Iterable[str]) -> list[str]:
    return sorted(dc for dc in set(dcs) if get_or_none(Datacenter, dc) is None)


def _require_dcs(dcs: Iterable[str]) -> None:
    missing = missing_dcs(dcs)
    if missing:
        raise AccountError(f"no such datacenter: {', '.join(missing)} "
                           "(create it first: imagectl dc create NAME)")


# ---------------------------------------------------------------------------------------------
# Datacenters
# ---------------------------------------------------------------------------------------------
def create_dc(name: str, image_limit: int | None = None) -> Datacenter:
    check_dc_name(name)
    image_limit = parse_image_limit(image_limit)
    dc = Datacenter(name, image_limit=image_limit, image_count=0)
    if not conditional_save(dc, Datacenter.name.does_not_exist()):
        raise AccountError(f"datacenter {name!r} already exists")
    return dc


def ensure_dc(name: str) -> None:
    try:
        create_dc(name)
    except AccountError:
        pass


def existing_dc(name: str) -> Datacenter:
    """The DC's record; AccountError when there is none."""
    dc = get_or_none(Datacenter, name)
    if dc is None:
        raise AccountError(f"datacenter {name!r} does not exist")
    return dc


def dc_view(dc: Datacenter) -> dict[str, Any]:
    # dc_trust builds on this module's errors, so it is imported here, not at the top
    from chalicelib.services.identity.dc_trust import trust_view
    return {"name": dc.name,
            "image_limit": None if dc.image_limit is None else int(dc.image_limit),
            "image_count": int(dc.image_count or 0), **trust_view(dc)}


def list_dcs() -> list[dict[str, Any]]:
    return sorted((dc_view(dc) for dc in Datacenter.scan()), key=lambda dc: dc["name"])


def bound_images(dc_name: str) -> list[str]:
    """Names of the images bound to the DC (read from the images, not the kept count)."""
    return sorted(image.name for image in Image.scan(Image.dc_bound == dc_name,
                                                     attributes_to_get=["name"]))


def show_dc(name: str) -> dict[str, Any]:
    """The DC, the images bound to it and the users holding roles in it."""
    view = dc_view(existing_dc(name))
    view["images"] = bound_images(name)
    view["users"] = {user["username"]: user["dc_roles"][name] for user in list_users()
                     if name in user["dc_roles"]}
    view["default"] = name == settings().default_dc
    return view


def set_image_limit(name: str, image_limit: Any) -> dict[str, Any]:
    limit = parse_image_limit(image_limit)
    action = Datacenter.image_limit.remove() if limit is None \
        else Datacenter.image_limit.set(limit)
    if not key_fits(name):
        raise AccountError(f"datacenter {name!r} does not exist")
    if not conditional_update(Datacenter(name), [action], Datacenter.name.exists()):
        raise AccountError(f"datacenter {name!r} does not exist")
    return dc_view(existing_dc(name))


def delete_dc(name: str) -> None:
    """Refused for the default DC and for a DC that still has images bound to it (its kept
    count is the condition of the delete, so an import racing this one wins or loses whole).
    Users' roles in it stay (harmless; `imagectl user role remove` drops them)."""
    if name == settings().default_dc:
        raise AccountError(f"datacenter {name!r} is the default datacenter "
                           "(IMAGE_API_DEFAULT_DC); it cannot be deleted")
    existing_dc(name)
    bound = bound_images(name)
    if bound:
        raise AccountError(f"datacenter {name!r} still has {len(bound)} image(s) bound to it "
                           f"({', '.join(bound[:5])}{', ...' if len(bound) > 5 else ''}); "
                           "delete them or unbind them first")
    if not conditional_delete(Datacenter(name), Datacenter.name.exists() & (
            Datacenter.image_count.does_not_exist() | (Datacenter.image_count == 0))):
        raise AccountError(f"datacenter {name!r} is gone or has images bound to it "
                           "now; nothing deleted")


# ---------------------------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------------------------
def create_user(username: str, *, super_admin: bool = False,
                roles: dict[str, list[str]] | None = None, key: str | None = None) -> str:
    """Create a user and return its API key (shown once; only the hash is stored). Its
    roles' DCs must exist."""
    check_username(username)
    roles = roles or {}
    _require_dcs(roles)
    key = key or new_key()
    user = User(username, is_super_admin=super_admin, is_active=True, dc_roles=roles,
                api_key_hash=hash_key(key), callback_key=new_callback_key())
    if not conditional_save(user, User.username.does_not_exist()):
        raise AccountError(f"user {username!r} already exists")
    return key


def _user(username: str, *, consistent: bool = False) -> User:
    # consistent: what a conditional write is then checked against
    user = get_or_none(User, username, consistent_read=consistent)
    if user is None:
        raise AccountError(f"user {username!r} does not exist")
    return user


def roles_of(user: User) -> dict[str, list[str]]:
    raw = user.dc_roles.as_dict() if hasattr(user.dc_roles, "as_dict") \
        else dict(user.dc_roles or {})
    return {str(dc): sorted(roles) for dc, roles in sorted(raw.items())}


def user_view(user: User) -> dict[str, Any]:
    """What an operator may see of a user: never a key, hash or token."""
    return {"username": user.username, "super_admin": bool(user.is_super_admin),
            "active": bool(user.is_active), "dc_roles": roles_of(user),
            "api_key": bool(user.api_key_hash), "password": bool(user.password_hash),
            "login_token_expires": user.token_expires.isoformat()
            if user.token_hash and user.token_expires else None}


def list_users() -> list[dict[str, Any]]:
    return sorted((user_view(user) for user in User.scan()), key=lambda u: u["username"])


def show_user(username: str) -> dict[str, Any]:
    return {**user_view(_user(username)), "login_locks": login_throttle.locks(username)}


SUPER_ADMIN_ATTEMPTS = 10  # a change that lost a race is tried again on what is there now


def _keep_a_super_admin(username: str, doing: str, write: Callable[[records.Tx, Any], None]
                        ) -> None:
    """Add `write` of the user (`doing`: "deleted", "deactivated") to a transaction that also
    requires the user to be as read and, if they are an active SuperAdmin, one other active
    SuperAdmin to stay one: the last active SuperAdmin may not go (nobody could then manage
    DC-unbound images, and only an operator can make another one). Two such changes at once
    cannot both pass on each other: whichever commits second finds its other one gone, and
    is tried again on what is there now."""
    for _ in range(SUPER_ADMIN_ATTEMPTS):
        user = _user(username, consistent=True)
        as_read = (User.is_super_admin == bool(user.is_super_admin)) & (
            User.is_active == bool(user.is_active))
        tx = records.Tx()
        write(tx, User.username.exists() & as_read)
        if user.is_super_admin and user.is_active:
            others = sorted(other.username for other in User.scan(  # no key hash is read
                consistent_read=True, attributes_to_get=["username", "is_super_admin",
                                                         "is_active"])
                if other.is_super_admin and other.is_active and other.username != username)
            if not others:
                raise LastSuperAdmin(f"user {username!r} is the last active SuperAdmin; "
                                     f"not {doing} (create another first: imagectl user "
                                     "create NAME --super-admin)")
            tx.check("other", User, others[0],
                     (User.is_super_admin == True) & (User.is_active == True))  # noqa: E712
        try:
            tx.commit()
        except records.Conflict:
            continue
        forget_cache()
        return
    raise ChangedMeanwhile(f"user {username!r} changed too often meanwhile; try again")


def delete_user(username: str) -> None:
    _keep_a_super_admin(username, "deleted",
                        lambda tx, condition: tx.delete("user", User(username),
                                                        condition=condition))


def set_active(username: str, active: bool) -> dict[str, Any]:
    """A deactivated user's key and login token stop working (after AUTH_CACHE_SECONDS in
    running containers); activating gives them back."""
    update_user(username, active=active)
    return show_user(username)


def update_user(username: str, *, active: bool | None = None,
                roles: dict[str, list[str]] | None = None) -> None:
    """Set activity and/or replace the DC roles (their DCs must exist) in one write (the
    public API's PUT /accounts/user/{username}); the last active SuperAdmin stays active."""
    _user(username)
    actions = []
    if active is not None:
        actions.append(User.is_active.set(active))
    if roles is not None:
        _require_dcs(roles)
        actions.append(User.dc_roles.set(roles))
    if not actions:
        return
    if active is False:
        _keep_a_super_admin(username, "deactivated",
                            lambda tx, condition: tx.update("user", User(username), actions,
                                                            condition=condition))
        return
    _update_user(username, actions)


def add_roles(username: str, specs: Iterable[str]) -> dict[str, Any]:
    """Grant DC:ROLE roles (the DCs must exist); returns the user with its roles now."""
    wanted = parse_roles(specs)
    if not wanted:
        raise InvalidAccountInput("no role given (DC:ROLE ...)")
    _require_dcs(wanted)
    roles = roles_of(_user(username))
    for dc, names in wanted.items():
        roles[dc] = sorted(set(roles.get(dc, [])) | set(names))
    _update_user(username, [User.dc_roles.set(roles)])
    return show_user(username)


def remove_roles(username: str, specs: Iterable[str]) -> dict[str, Any]:
    """Take DC:ROLE roles away (a DC left without roles is dropped; roles the user does not
    hold are no error); returns the user with its roles now."""
    unwanted = parse_roles(specs)
    if not unwanted:
        raise InvalidAccountInput("no role given (DC:ROLE ...)")
    roles = roles_of(_user(username))
    for dc, names in unwanted.items():
        kept = sorted(set(roles.get(dc, [])) - set(names))
        if kept:
            roles[dc] = kept
        else:
            roles.pop(dc, None)
    _update_user(username, [User.dc_roles.set(roles)])
    return show_user(username)


def _update_user(username: str, actions: list[Any]) -> None:
    if not key_fits(username):  # no user has such a name (DynamoDB would refuse the key)
        raise AccountError(f"user {username!r} does not exist")
    if not conditional_update(User(username), actions, User.username.exists()):
        raise AccountError(f"user {username!r} does not exist")
    forget_cache()


def new_callback_key() -> str:
    """The HMAC key that signs a user's callbacks (ES-Signature); 256 bits."""
    return secrets.token_hex(32)


def callback_key(username: str, *, rotate: bool = False) -> str:
    """The user's callback key, made now if the user has none yet (users created by platform
    events); `rotate` replaces it (receivers must learn the new one)."""
    fresh = new_callback_key()
    value = fresh if rotate else User.callback_key | fresh  # if_not_exists
    _update_user(username, [User.callback_key.set(value)])
    return str(User.get(username, consistent_read=True).callback_key)


def rotate_key(username: str, key: str | None = None) -> str:
    """A new key for the user; the previous one stops working at once."""
    key = key or new_key()
    _update_user(username, [User.api_key_hash.set(hash_key(key))])
    return key


def set_password(username: str, password: str) -> None:
    """Set the user's login password (only its scrypt hash is stored). The user's current
    login token is revoked and its failed-login counts forgotten: an operator's reset unlocks."""
    try:
        encoded = hash_password(password)
    except ValueError as exc:
        raise InvalidAccountInput(str(exc)) from None
    _update_user(username, [User.password_hash.set(encoded), User.token_hash.remove(),
                            User.token_expires.remove()])
    login_throttle.lift(username)


def ensure_admin(username: str, key: str, *, replace_key: bool = True) -> bool:
    """The local stack's SuperAdmin, with a known key (an existing user keeps its own key
    unless `replace_key`). True when the user was created here."""
    if get_or_none(User, username) is None:
        create_user(username, super_admin=True, key=key)
        return True
    if replace_key:
        rotate_key(username, key)
    return False
