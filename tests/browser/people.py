"""Who uses the console in the browser tests (created in the stack by the module's fixture).

Here rather than in conftest.py: a test module importing conftest would get a second copy of
it, with other random passwords."""
from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    username: str
    password: str


SUPER_ADMIN = Person("root", "root pw " + secrets.token_urlsafe(12))
DC_ADMIN = Person("dcadmin", "dc admin pw " + secrets.token_urlsafe(12))
OTHER_DC = "dc2"
IMAGE_ADMIN_ROLES = ("admin", "image_admin", "image_import_admin")
