"""The console as a test sees it: a Chromium tab on `<stack>/console/`, driven by the ids and
names of the console contract, every wait a condition (WebDriverWait), never a sleep.

`problems()` reads the browser's console log: an uncaught error, a rejected promise, a CSP
violation, a console.error, or one of the console's own files failing to load. Failed API
calls (4xx the tests provoke) and the store's answers are the console's business to show, so
their network lines are not problems.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT_SECONDS = 20.0
TASK_SECONDS = 90.0          # an import or upload of a few MiB on a busy 2-core machine
PROBLEM_SOURCES = {"javascript", "security", "console-api"}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"


class ConsolePage:
    def __init__(self, driver: Any, console_url: str) -> None:
        self.driver = driver
        self.console_url = console_url            # http://127.0.0.1:<port>/console/
        self.log: list[dict[str, Any]] = []       # every browser log entry read so far

    # -- navigation and state ------------------------------------------------------------
    def fresh(self) -> None:
        """A new visitor: the console loaded anew with empty session and local storage."""
        self.driver.get(self.console_url)
        self.driver.delete_all_cookies()
        self.driver.execute_script("window.sessionStorage.clear(); window.localStorage.clear();")
        self.driver.get(self.console_url + "#/login")
        self.driver.refresh()
        self.wait_for("#login-form")

    def go(self, route: str) -> None:
        """Follow an in-console link to `route` (e.g. "/images"), as a click on it would."""
        self.driver.execute_script("window.location.hash = arguments[0];", route)

    def route(self) -> str:
        return str(urlsplit(self.driver.current_url).fragment)

    def wait_route(self, prefix: str, timeout: float = WAIT_SECONDS) -> str:
        return self.wait(lambda: self.route() if self.route().startswith(prefix) else None,
                         f"the console to show #{prefix}", timeout)

    # -- waiting -------------------------------------------------------------------------
    def wait(self, condition: Callable[[], Any], what: str,
             timeout: float = WAIT_SECONDS) -> Any:
        """Until `condition()` is truthy; the failure names what was awaited and the last
        alert the console showed."""
        def check(_driver: Any) -> Any:
            try:
                return condition()
            except (NoSuchElementException, StaleElementReferenceException):
                return None
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(check)
        except Exception as exc:
            raise AssertionError(f"waited {timeout:g} s for {what}; route #{self.route()}, "
                                 f"alert {self.alert_text()!r}") from exc

    def wait_for(self, css: str, timeout: float = WAIT_SECONDS) -> WebElement:
        """The first element matching `css` once it is displayed."""
        def shown() -> WebElement | None:
            element = self.driver.find_element(By.CSS_SELECTOR, css)
            return element if element.is_displayed() else None
        return self.wait(shown, f"{css} to be shown", timeout)

    def wait_text(self, css: str, expected: str, timeout: float = WAIT_SECONDS) -> None:
        try:
            self.wait(lambda: self.text(css) == expected, f"{css} to read {expected!r}", timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; it reads {self.text_or_none(css)!r}") from None

    # -- reading -------------------------------------------------------------------------
    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        return str(self.find(css).text).strip()

    def text_or_none(self, css: str) -> str | None:
        found = self.find_all(css)
        return str(found[0].text).strip() if found else None

    def alert_text(self) -> str | None:
        try:
            return self.text_or_none("#alert")
        except Exception:  # noqa: BLE001 - only for a failure message
            return None

    def field(self, form: str, name: str) -> WebElement:
        return self.find(f"#{form} [name='{name}']")

    def field_error(self, name: str) -> WebElement:
        return self.find(f".field-error[data-error-for='{name}']")

    def active_name(self) -> str | None:
        active = self.driver.switch_to.active_element
        return active.get_attribute("name") or active.get_attribute("id")

    def session_token(self) -> str:
        """The login token the console holds (in session storage, under whatever key)."""
        token = self.driver.execute_script(
            "return Object.values(sessionStorage).join(' ').match(arguments[0])?.[0]",
            r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{30,}")
        assert token, "no login token in session storage"
        return str(token)

    # -- acting --------------------------------------------------------------------------
    def fill(self, form: str, values: dict[str, str]) -> None:
        """Type each value into the form's control of that name (a select: choose it)."""
        for name, value in values.items():
            control = self.field(form, name)
            if control.tag_name == "select":
                self.wait(lambda c=control, v=value: v in [o.get_attribute("value") for o in
                                                            Select(c).options],
                          f"option {value!r} in #{form} {name}")
                Select(control).select_by_value(value)
            elif control.get_attribute("type") == "checkbox":
                if control.is_selected() != (value == "true"):
                    control.click()
            else:
                control.clear()
                control.send_keys(value)

    def accept_confirmation(self) -> None:
        """Accept the confirm() dialog the last click opened, if it opened one (a dialog
        left open would be dismissed by the next command)."""
        try:
            self.driver.switch_to.alert.accept()
        except NoAlertPresentException:
            pass

    def submit(self, form: str) -> None:
        self.find(f"#{form} [type='submit']").click()

    def login(self, username: str, password: str) -> None:
        self.go("/login")
        self.wait_for("#login-form")
        self.fill("login-form", {"username": username, "password": password})
        self.submit("login-form")
        self.wait_text("#whoami", username)

    def task_status(self, expected: str, timeout: float = TASK_SECONDS) -> None:
        self.wait_text("#task-status", expected, timeout)

    # -- the browser's log and screenshots -----------------------------------------------
    def read_log(self) -> list[dict[str, Any]]:
        entries = list(self.driver.get_log("browser"))
        self.log.extend(entries)
        return entries

    def problems(self) -> list[str]:
        """What went wrong in the page since the last call (see the module's docstring)."""
        found = []
        for entry in self.read_log():
            if entry.get("level") != "SEVERE":
                continue
            source, message = entry.get("source"), str(entry.get("message", ""))
            own_file = source == "network" and message.startswith(self.console_url)
            if source in PROBLEM_SOURCES or own_file:
                found.append(f"{source}: {message}")
        return found

    def screenshot(self, name: str) -> None:
        """docs/console/<name>.png, only when CONSOLE_SCREENSHOTS=1 (normal runs leave the
        tree alone). Taken after the page showed what the test waited for."""
        if os.environ.get("CONSOLE_SCREENSHOTS") != "1":
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png")), name
