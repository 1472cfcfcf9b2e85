"""The operators' console (SPEC §13) in a real browser: Debian's Chromium, headless, driven by
Selenium against the local stack as `make run` starts it (one stack and one browser for the
module; each test starts from an empty tab). The console is used as an operator would: forms
filled and submitted, links followed, the keyboard; its answers are checked against the API.

CONSOLE_SCREENSHOTS=1 also saves the pages to docs/console/*.png (the README shows them).
"""
from __future__ import annotations

import copy
import json
import uuid as uuidlib

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.browser import chromium
from tests.browser.console_page import ConsolePage
from tests.browser.console_stack import DC_ADMIN, OTHER_DC, SUPER_ADMIN, ConsoleStack
from tests.e2e.stack_process import wait_raw
from tests.integration.workflow_support import Gate
from tests.support import BASE_MANIFEST, Repository, file_sha1

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
chromium.require()

TAB_LIMIT = 8   # the login form is a few Tab presses from the top of the page, not more


def unique(prefix: str) -> str:
    return f"{prefix}-{uuidlib.uuid4().hex[:8]}"


def task_id_of(route: str) -> str:
    return route.removeprefix("/tasks/")


def parsed(text: str) -> dict | None:
    """A JSON object shown on a page, or None while the page shows something else."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def api_task(stack: ConsoleStack, task_id: str) -> requests.Response:
    return stack.admin.get(f"/task/{task_id}/status")


def import_through_the_form(page: ConsolePage, name: str, manifest_url: str,
                            dc: str = "main") -> str:
    page.go("/import")
    page.wait_for("#import-form")
    page.fill("import-form", {"name": name, "manifest_url": manifest_url, "dc": dc})
    page.submit("import-form")
    return task_id_of(page.wait_route("/tasks/"))


# ---------------------------------------------------------------------------------------------
def test_log_in_with_the_keyboard_only(console):
    """Every control labelled; Tab to the user name, type, Tab to the password, type, Enter."""
    console.wait_for("#login-form")
    for control in console.find_all("#login-form input"):
        labels = console.find_all(f"label[for='{control.get_attribute('id')}']")
        assert labels and labels[0].text.strip(), control.get_attribute("name")
    console.screenshot("login")
    console.driver.execute_script("document.activeElement && document.activeElement.blur()")
    keys = ActionChains(console.driver)
    for _ in range(TAB_LIMIT):
        if console.active_name() == "username":
            break
        keys.send_keys(Keys.TAB).perform()
    assert console.active_name() == "username", "Tab never reached the user name field"
    keys.send_keys(SUPER_ADMIN.username).send_keys(Keys.TAB).perform()
    assert console.active_name() == "password"
    keys.send_keys(SUPER_ADMIN.password).send_keys(Keys.ENTER).perform()
    console.wait_text("#whoami", SUPER_ADMIN.username)
    assert console.route().startswith("/images")


def test_a_wrong_password_is_shown_and_nobody_is_logged_in(console):
    console.fill("login-form", {"username": SUPER_ADMIN.username, "password": "not it"})
    console.submit("login-form")
    console.wait_text("#alert", "Unable to log in with provided credentials.")
    assert console.route() == "/login" and console.text("#whoami") == ""


def test_logout_returns_to_login_with_the_reason(console, console_stack):
    console.login(SUPER_ADMIN.username, SUPER_ADMIN.password)
    token = console.session_token()
    console.find("#logout").click()
    console.wait_route("/login")
    console.wait(lambda: console.text("#login-reason"), "the reason on the login page")
    # the token is dead at the API, not only forgotten by the browser
    r = requests.get(f"{console_stack.stack.api_url}/image/", timeout=10,
                     headers={"Authorization": f"Token {token}"})
    assert r.status_code == 401, r.text
    console.go("/images")
    console.wait_route("/login")  # nobody is logged in any more


def test_an_expired_token_leads_to_login_with_the_reason(console, console_stack):
    """The browser's token stops working (a login elsewhere replaces it, as its expiry would
    end it): the next call answers 401 and the console asks to log in, saying why."""
    console.login(SUPER_ADMIN.username, SUPER_ADMIN.password)
    elsewhere = requests.post(f"{console_stack.stack.api_url}/accounts/login/", timeout=10,
                              json={"username": SUPER_ADMIN.username,
                                    "password": SUPER_ADMIN.password})
    assert elsewhere.status_code == 200, elsewhere.text
    refused = requests.get(f"{console_stack.stack.api_url}/task/", timeout=10,
                           headers={"Authorization": f"Token {console.session_token()}"})
    assert refused.status_code == 401, refused.text
    console.go("/tasks")
    console.wait_route("/login")
    console.wait_text("#login-reason", refused.json()["detail"])  # the API's own words
    console.screenshot("login-expired")


def test_import_the_sample_image_and_watch_it_reach_success(as_super_admin, console_stack):
    page = as_super_admin
    manifest_url, _ = console_stack.sample()
    published = requests.get(manifest_url, timeout=10).json()
    name = unique("console-sample")
    page.go("/import")
    page.wait_for("#import-form")
    page.fill("import-form", {"name": name, "manifest_url": manifest_url, "dc": "main"})
    page.screenshot("import")
    page.submit("import-form")
    task_id = task_id_of(page.wait_route("/tasks/"))
    page.task_status("SUCCESS")
    assert page.find("#task-progress").get_attribute("value") == "100"
    done_text = page.find("#task-bytes").text   # the whole file, not the last running reading
    assert not done_text.startswith("0 B"), done_text
    final = api_task(console_stack, task_id).json()
    assert final["status"] == "SUCCESS"
    page.wait_text("#task-message", final["result"]["message"])
    page.screenshot("task")

    page.go("/images")
    page.wait_for(f"#images-table tr[data-name='{name}']")
    page.screenshot("images")
    page.go(f"/images/{name}")
    page.wait_text("#image-fields dd[data-field='sha1']", published["files"][0]["sha1"])
    shown = page.wait(lambda: parsed(page.text("#image-manifest")), "the image's manifest")
    assert (shown["uuid"], shown["files"][0]["sha1"]) == (published["uuid"],
                                                          published["files"][0]["sha1"])
    page.wait(lambda: task_id in page.text("#image-tasks"), "the import among the image's tasks")
    page.screenshot("image")


def test_upload_a_small_file_from_the_browser(as_super_admin, console_stack, tmp_path):
    """The parts go from the browser straight to the store (presigned URLs): the API never
    sees the bytes, and the workflow checks size and SHA-1 before the image is ready."""
    page = as_super_admin
    content = b"console upload " * 4000
    image_file = tmp_path / "disk.img"
    image_file.write_bytes(content)
    manifest = copy.deepcopy(BASE_MANIFEST)
    manifest.update(uuid=str(uuidlib.uuid4()), name="uploaded",
                    files=[{"sha1": file_sha1(content), "size": len(content),
                            "compression": "none"}])
    name = unique("console-upload")
    page.go("/upload")
    page.wait_for("#upload-form")
    page.fill("upload-form", {"name": name, "manifest": json.dumps(manifest), "dc": "main"})
    page.field("upload-form", "file").send_keys(str(image_file))
    page.screenshot("upload")
    page.submit("upload-form")
    page.task_status("SUCCESS")  # the upload page follows its task in place
    image = console_stack.admin.get(f"/image/{name}").json()["result"]
    assert (image["uuid"], image["status"]) == (manifest["uuid"], 1)
    served = console_stack.admin.get(f"/images/{manifest['uuid']}").json()
    assert served["files"][0]["sha1"] == file_sha1(content)


def test_a_400_field_error_is_shown_next_to_its_field(as_super_admin, console_stack):
    page = as_super_admin
    body = {"manifest_url": "http://10.0.0.1/manifest", "dc": "main"}  # a refused address
    name = unique("console-refused")
    page.go("/import")
    page.wait_for("#import-form")
    page.fill("import-form", {"name": name, **body})
    page.submit("import-form")
    error = page.wait_for(".field-error[data-error-for='manifest_url']")
    expected = console_stack.admin.post(f"/image/{unique('api-refused')}", body)
    assert expected.status_code == 400, expected.text
    assert error.text.strip() == expected.json()["result"]["manifest_url"][0]
    control = page.field("import-form", "manifest_url")
    assert control.get_attribute("aria-invalid") == "true"
    assert error.get_attribute("id") in (control.get_attribute("aria-describedby") or "").split()
    # right after its control, in the same form
    follows = page.driver.execute_script(
        "const c = arguments[0], e = arguments[1];"
        "return c.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING"
        " && c.form.contains(e);", control, error)
    assert follows
    assert page.route() == "/import"
    page.screenshot("field-error")


def test_an_update_from_the_image_page_changes_only_what_was_changed(as_super_admin,
                                                                     console_stack, httpserver):
    """An image whose access the form's choices do not offer (Deleted, 4): a new description
    saved from the image page leaves its access alone (it was sent as Public, 1, before)."""
    page = as_super_admin
    repo = Repository(httpserver)
    name = unique("console-update")
    content = name.encode() * 100
    made = console_stack.admin.post(f"/image/{name}", {
        "manifest_url": repo.publish(repo.manifest(content), content=content), "dc": "main",
        "access": 4})
    assert made.status_code == 201, made.text
    assert wait_raw(console_stack.admin, made.json()["task_id"])["status"] == "SUCCESS"
    assert console_stack.admin.get(f"/image/{name}").json()["result"]["access"] == 4
    page.go(f"/images/{name}")
    page.wait_for("#image-update-form")
    page.fill("image-update-form", {"desc": "described in the console"})
    page.submit("image-update-form")
    task_id = task_id_of(page.wait_route("/tasks/"))
    page.task_status("SUCCESS")
    assert api_task(console_stack, task_id).json()["status"] == "SUCCESS"
    after = console_stack.admin.get(f"/image/{name}").json()["result"]
    assert (after["desc"], after["access"]) == ("described in the console", 4)


def test_cancel_a_slow_import_and_see_revoked(as_super_admin, console_stack, httpserver):
    """The image file trickles from a local server until released: the task stays in its
    download while the operator presses Cancel."""
    page = as_super_admin
    repo = Repository(httpserver)
    content = b"slow image file " * 4096
    # released only in `finally`: a browser on a loaded machine may take well over 30 s from the
    # first byte to the press on Cancel (CI once did, and the file finished first)
    gate = Gate(content, deadline=600)
    manifest = repo.manifest(content)
    url = repo.publish(manifest)
    httpserver.expect_request("/" + url.split("/", 3)[3] + "/file").respond_with_handler(
        gate.handler)
    try:
        task_id = import_through_the_form(page, unique("console-slow"), url)
        assert gate.started.wait(30), "the import never asked for the file"
        page.wait_text("#task-status", "PENDING")
        page.wait_for("#task-cancel").click()
        page.accept_confirmation()
        page.task_status("REVOKED")
        assert api_task(console_stack, task_id).status_code == 410
    finally:
        gate.release.set()


def test_a_dc_admin_sees_only_their_dc(console, console_stack, httpserver):
    """An image admin of one DC: that DC alone in the selector and the import form, none of
    the SuperAdmin pages, and the images list without the other DC's images."""
    repo = Repository(httpserver)
    theirs, others = unique("in-dc2"), unique("in-main")
    for name, dc in ((theirs, OTHER_DC), (others, "main")):
        content = name.encode() * 100
        r = console_stack.admin.post(f"/image/{name}", {
            "manifest_url": repo.publish(repo.manifest(content), content=content), "dc": dc})
        assert r.status_code == 201, r.text
        assert wait_raw(console_stack.admin, r.json()["task_id"])["status"] == "SUCCESS"
    console.login(DC_ADMIN.username, DC_ADMIN.password)
    options = console.wait(
        lambda: [o.get_attribute("value") for o in console.find_all("#dc-select option")],
        "the DC selector's options")
    assert options == [OTHER_DC]
    for admin_page in ("#/dcs", "#/users"):
        assert not [link for link in console.find_all(f"#nav a[href='{admin_page}']")
                    if link.is_displayed()]
    console.go("/images")
    console.wait_for(f"#images-table tr[data-name='{theirs}']")
    assert not console.find_all(f"#images-table tr[data-name='{others}']")
    console.go("/import")
    console.wait_for("#import-form")
    dc_choices = [o.get_attribute("value") for o in
                  console.find_all("#import-form [name='dc'] option")]
    assert "main" not in dc_choices and OTHER_DC in dc_choices


def test_the_super_admin_pages(as_super_admin):
    page = as_super_admin
    page.go("/dcs")
    page.wait_for(f"#dcs-table tr[data-dc='{OTHER_DC}']")
    page.wait_for("#dcs-table tr[data-dc='main']")
    page.screenshot("dcs")
    page.go("/dcs/main")
    page.wait_for("#dc-form")
    page.screenshot("dc")
    page.go("/users")
    page.wait_for(f"#users-table tr[data-user='{DC_ADMIN.username}']")
    page.screenshot("users")
    page.go(f"/users/{DC_ADMIN.username}")
    page.wait_for("#user-form")
    page.go("/tasks")
    page.wait_for("#tasks-table")
    page.screenshot("tasks")
    page.go("/log")
    page.wait_for("#log-table")
    page.wait_for("#log-filters")
    page.screenshot("log")


def test_readable_on_a_phone(as_super_admin):
    """At 390x844 the pages fit the width: nothing to scroll sideways."""
    page = as_super_admin
    chromium.viewport(page.driver, chromium.PHONE)
    assert page.driver.execute_script("return [innerWidth, innerHeight]") == list(chromium.PHONE)
    for route, shown, shot in (("/images", "#images-table", "images-phone"),
                               ("/import", "#import-form", "import-phone"),
                               ("/upload", "#upload-form", None),
                               ("/tasks", "#tasks-table", None),
                               ("/log", "#log-table", None),
                               ("/dcs", "#dcs-table", None),
                               ("/users", "#users-table", None)):
        page.go(route)
        page.wait_for(shown)
        width = page.driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], (route, width)
        if shot:
            page.screenshot(shot)
