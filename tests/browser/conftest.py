"""Fixtures of the browser tests: the local stack as `make run` starts it (the end-to-end
tests' `start_stack`, with its sample image repository), its users with passwords, one
headless Chromium per module, and per test a fresh, empty console tab at 1280x800.

Every test fails at its teardown when the page logged a JS error or a CSP violation.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.browser import chromium
from tests.browser.console_page import ConsolePage
from tests.browser.console_stack import (
    DC_ADMIN,
    IMAGE_ADMIN_ROLES,
    OTHER_DC,
    SUPER_ADMIN,
    ConsoleStack,
    add_person,
)
from tests.e2e.stack_process import imagectl, start_stack, stop_stack


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[object]:
    driver = chromium.launch(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def console_stack(tmp_path_factory) -> Iterator[ConsoleStack]:
    stack = start_stack(tmp_path_factory.mktemp("devstack"),
                        IMAGE_API_ADMIN_KEY=secrets.token_urlsafe(30))
    try:
        imagectl(stack, "dc", "create", OTHER_DC)
        add_person(stack, SUPER_ADMIN, "--super-admin")
        add_person(stack, DC_ADMIN, *(argument for role in IMAGE_ADMIN_ROLES
                                      for argument in ("--role", f"{OTHER_DC}:{role}")))
        yield ConsoleStack(stack)
    finally:
        problems = stop_stack(stack)
    assert not problems, f"{problems}:\n{stack.log()}"


@pytest.fixture
def console(browser, console_stack) -> Iterator[ConsolePage]:
    """The console in the module's browser, as a new visitor sees it (nobody logged in)."""
    chromium.viewport(browser, chromium.DESKTOP)
    page = ConsolePage(browser, console_stack.console_url)
    page.read_log()  # the previous test's lines are its own
    page.fresh()
    yield page
    problems = page.problems()
    assert not problems, "the page logged errors:\n" + "\n".join(problems)


@pytest.fixture
def as_super_admin(console) -> ConsolePage:
    console.login(SUPER_ADMIN.username, SUPER_ADMIN.password)
    return console
