"""Users as the public API shows and changes them (GET/PUT /accounts/user, the console's user
pages): SuperAdmins see and change every user, anyone else sees only themself (SPEC §2). The
change itself is `accounts.update_user`, what `imagectl user activate/role ...` runs too.

A change made here leaves the user's `event_version` as it is: a later platform "User State"
event (a higher version) replaces activity and roles again, an older or repeated one stays
ignored (README "Users and DCs through the API").
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain import errors, http_texts
from chalicelib.domain import field_texts as texts
from chalicelib.domain.account_forms import user_change
from chalicelib.domain.image_form import Errors
from chalicelib.domain.permissions import Principal
from chalicelib.persistence.models import User, get_or_none
from chalicelib.services.identity import accounts

PUBLIC_FIELDS = ("username", "is_super_admin", "is_active", "dc_roles")  # what a list reads


def user_object(user: User) -> dict[str, Any]:
    """The API's user: never a key, hash or token."""
    return {"username": user.username, "is_super_admin": bool(user.is_super_admin),
            "is_active": bool(user.is_active), "dc_roles": accounts.roles_of(user)}


def _super_admin(principal: Principal) -> None:
    if not principal.is_super_admin:
        raise errors.PermissionDenied()


def _load(username: str) -> User:
    user = get_or_none(User, username)
    if user is None:
        raise errors.NotFound(http_texts.USER_NOT_FOUND)
    return user


def list_users(principal: Principal, full: bool) -> list[Any]:
    _super_admin(principal)
    users = sorted(User.scan(attributes_to_get=list(PUBLIC_FIELDS)),
                   key=lambda user: user.username)
    return [user_object(user) for user in users] if full else [u.username for u in users]


def get_user(principal: Principal, username: str) -> dict[str, Any]:
    if not principal.may_see_user(username):
        raise errors.PermissionDenied()
    return user_object(_load(username))


def change_user(principal: Principal, username: str, body: dict[str, Any]) -> dict[str, Any]:
    """Validate everything first (all field errors together), then one write."""
    _super_admin(principal)
    _load(username)
    found = Errors()
    values = user_change(body, found, lambda dc: not accounts.missing_dcs([dc]))
    if found:
        raise errors.ValidationFailed(found)
    try:
        accounts.update_user(username, active=values.get("is_active"),
                             roles=values.get("dc_roles"))
    except accounts.LastSuperAdmin:
        raise errors.field_error("is_active", texts.LAST_SUPER_ADMIN) from None
    except accounts.ChangedMeanwhile:
        raise errors.DependencyFailed() from None  # 503 with Retry-After: nothing written
    except accounts.AccountError:  # the user or a DC of its roles went since they were read
        _load(username)
        missing = accounts.missing_dcs(values.get("dc_roles") or {})
        if not missing:  # a DC that went came back meanwhile: the same request may pass now
            raise errors.DependencyFailed() from None
        raise errors.ValidationFailed({"dc_roles": [texts.not_a_choice(dc) for dc in missing]
                                       }) from None
    return user_object(_load_fresh(username))


def _load_fresh(username: str) -> User:
    """Read after our own write (a consistent read: the answer shows the change)."""
    try:
        return User.get(username, consistent_read=True)
    except User.DoesNotExist:
        raise errors.NotFound(http_texts.USER_NOT_FOUND) from None
