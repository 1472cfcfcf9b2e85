"""The browser tests' stack and who uses the console there (made by conftest's fixture).

Here rather than in conftest.py: a test module importing conftest would get a second copy of
it, with other random passwords."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from tests.e2e.stack_process import RunningStack, imagectl
from tests.support import Api


@dataclass(frozen=True)
class Person:
    username: str
    password: str


SUPER_ADMIN = Person("root", "root pw " + secrets.token_urlsafe(12))
DC_ADMIN = Person("dcadmin", "dc admin pw " + secrets.token_urlsafe(12))
OTHER_DC = "dc2"
IMAGE_ADMIN_ROLES = ("admin", "image_admin", "image_import_admin")


@dataclass
class ConsoleStack:
    stack: RunningStack

    @property
    def console_url(self) -> str:
        return self.stack.api_url.removesuffix("/api") + "/console/"

    @property
    def admin(self) -> Api:
        return self.stack.api(self.stack.admin_key)

    def sample(self) -> tuple[str, str]:
        """(manifest URL, name) of the first sample image the stack serves."""
        samples = self.stack.sample_images()
        assert samples, self.stack.log()
        return samples[0]


def add_person(stack: RunningStack, person: Person, *create_args: str) -> None:
    imagectl(stack, "user", "create", person.username, *create_args)
    imagectl(stack, "user", "password", person.username, stdin=person.password + "\n")
