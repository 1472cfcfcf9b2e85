"""Shared fixtures.

One local stack per test session (the emulator, tables, event delivery and the API served
over HTTP), started exactly as `make run` starts it but on free ports. Tests talk HTTP to it.
The environment is set before the app is imported because models bind table names then.
"""
from __future__ import annotations

import os

os.environ.setdefault("DEVSTACK_STATE", os.path.join(os.path.dirname(__file__), ".state-unused"))
os.environ.setdefault("AUTH_CACHE_SECONDS", "0")  # role changes in tests take effect at once

import pytest

from tests.support import Api, LocalStackHandle, reset_data

# Short timeouts so that fault tests end quickly; the workflows are the deployed ones.
TEST_SETTINGS = {
    "FILE_TIMEOUT_SECONDS": "1",
    "EXPORT_TIMEOUT_SECONDS": "4", "EXPORT_HEARTBEAT_SECONDS": "3",
    "TRANSFER_PART_BYTES": str(5 << 20),  # S3's minimum: multipart paths run with small files
}


@pytest.fixture(scope="session")
def stack():
    from devstack.stack import Stack, StackOptions
    handle = Stack(StackOptions(port=0, admin_key="admin-test-key", write_state=False,
                                node_agent=False, env=TEST_SETTINGS)).start()
    yield LocalStackHandle(handle)
    handle.stop()


@pytest.fixture
def clean(stack):
    """A fresh data set: DC `main`, SuperAdmin `admin`, nothing else; no image server."""
    reset_data(stack)
    stack.use_image_server(False)
    yield stack
    stack.use_image_server(False)


@pytest.fixture
def server(clean):
    """The same, with the image server (S3 store + Step Functions workflows) switched on."""
    clean.use_image_server(True)
    clean.empty_store()
    return clean


@pytest.fixture
def settings_override(request):
    """`settings_override(NAME="value", ...)`: from this call until the test ends (also when
    it fails) the app reads these settings; None removes a variable. The environment and
    `chalicelib.config` are both restored at teardown. May be called more than once."""
    from chalicelib import config
    if "clean" in request.fixturenames:
        # set up after `clean`, so undone before `clean` switches the image server off
        request.getfixturevalue("clean")
    patch = pytest.MonkeyPatch()

    def override(**values: str | int | None) -> None:
        for name, value in values.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, str(value))
        config.reload()

    try:
        yield override
    finally:
        patch.undo()
        config.reload()


@pytest.fixture
def admin(clean) -> Api:
    return Api(clean.api_url, clean.admin_key)


@pytest.fixture(scope="module")
def loopback_server():
    """A threaded pytest-httpserver on 127.0.0.1 (the plugin's 'localhost' may be ::1), so a
    handler that sleeps does not hold up the next request."""
    from pytest_httpserver import HTTPServer
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def files(httpserver):
    """The local image repository (manifests and files) on 127.0.0.1."""
    from tests.support import Repository
    return Repository(httpserver)
