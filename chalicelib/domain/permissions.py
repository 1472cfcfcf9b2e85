"""Who may do what (SPEC §2). Pure: works on a `Principal`, never touches storage."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chalicelib.domain.vocabulary import IMPORT

ROLE_ADMIN = "admin"
ROLE_IMAGE_ADMIN = "image_admin"
ROLE_IMAGE_IMPORT_ADMIN = "image_import_admin"
ROLES = frozenset((ROLE_ADMIN, ROLE_IMAGE_ADMIN, ROLE_IMAGE_IMPORT_ADMIN))


@dataclass(frozen=True)
class Principal:
    username: str
    is_super_admin: bool = False
    dc_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_roles(cls, username: str, is_super_admin: bool,
                   dc_roles: Mapping[str, Iterable[str]]) -> Principal:
        return cls(username, bool(is_super_admin),
                   {dc: frozenset(roles) for dc, roles in (dc_roles or {}).items()})

    def roles_in(self, dc: str | None) -> frozenset[str]:
        return self.dc_roles.get(dc or "", frozenset())

    def is_image_admin(self, dc: str | None) -> bool:
        """Image admin in a DC = DC admin and image_admin there."""
        if self.is_super_admin:
            return True
        roles = self.roles_in(dc)
        return ROLE_ADMIN in roles and ROLE_IMAGE_ADMIN in roles

    def is_image_import_admin(self, dc: str | None) -> bool:
        if self.is_super_admin:
            return True
        return self.is_image_admin(dc) and ROLE_IMAGE_IMPORT_ADMIN in self.roles_in(dc)

    def is_dc_admin(self, dc: str | None) -> bool:
        return self.is_super_admin or ROLE_ADMIN in self.roles_in(dc)

    @property
    def image_admin_dcs(self) -> frozenset[str]:
        return frozenset(dc for dc in self.dc_roles if self.is_image_admin(dc))

    @property
    def is_any_image_admin(self) -> bool:
        return self.is_super_admin or bool(self.image_admin_dcs)

    def can_manage_image(self, dc_bound: str | None) -> bool:
        """Direct access to one image: DC-unbound images are SuperAdmin-only."""
        if self.is_super_admin:
            return True
        return dc_bound is not None and dc_bound in self.image_admin_dcs

    def may_see_user(self, username: str) -> bool:
        """A user's record (GET /accounts/user/{username}): SuperAdmins and the user."""
        return self.is_super_admin or self.username == username

    def can_see_image(self, dc_bound: str | None) -> bool:
        return self.can_manage_image(dc_bound)

    def can_read_task(self, *, creator: str, owner: str, dc: str, unbound: bool) -> bool:
        """Its creator and SuperAdmins; for a DC-bound image also the image's owner and the
        admins of the task's DC. The tasks of a DC-unbound image hide as the image does."""
        if self.is_super_admin or self.username == creator:
            return True
        return not unbound and (self.username == owner or self.is_dc_admin(dc))

    def can_cancel_task(self, *, creator: str, operation: str, dc: str, unbound: bool) -> bool:
        """Its creator, or who may start the operation: an image admin of the DC (an import
        admin for imports); for a DC-unbound image a SuperAdmin."""
        if self.is_super_admin or self.username == creator:
            return True
        if unbound:
            return False
        if operation == IMPORT:
            return self.is_image_import_admin(dc)
        return self.is_image_admin(dc)


def normalise_roles(raw: Mapping[str, Iterable[str]] | None) -> dict[str, list[str]]:
    """Keep only known roles, sorted, per DC; drops empty DCs."""
    result: dict[str, list[str]] = {}
    for dc, roles in (raw or {}).items():
        known = sorted(set(roles) & ROLES)
        if known:
            result[str(dc)] = known
    return result
