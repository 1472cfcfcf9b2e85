"""Start and stop the whole local stack: emulator, tables, accounts, event delivery, API."""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from devstack.emulator import Emulator, start_emulator

ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = Path(os.environ.get("DEVSTACK_STATE") or ROOT / ".devstack" / "state.json")


@dataclass
class StackOptions:
    port: int = 8000
    emulator_port: int = 0
    admin_key: str = ""
    image_server: bool = False
    allow_loopback: bool = True
    table_prefix: str = "imageapi-local"
    write_state: bool = True


@dataclass
class Stack:
    options: StackOptions
    emulator: Emulator | None = None
    app: Any = None
    api: Any = None
    bus: Any = None
    admin_key: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return self.api.url

    def start(self) -> "Stack":
        opts = self.options
        if opts.image_server:
            raise SystemExit("IMAGE_SERVER=on is not available yet: the image store and its "
                             "workflows are not part of this build. Use IMAGE_SERVER=off.")
        self.emulator = start_emulator(opts.emulator_port)
        os.environ.update({
            "IMAGE_API_TABLE_PREFIX": opts.table_prefix,
            "IMAGE_SOURCE_ALLOW_LOOPBACK": "true" if opts.allow_loopback else "false",
            "IMAGE_STORE_BUCKET": "",
        })
        from chalicelib import config
        config.reload()

        from app import app  # after the environment is set: models bind table names at import
        from devstack.threadsafe import make_thread_safe
        make_thread_safe(app)
        self.app = app
        create_tables()

        from chalicelib.services import accounts
        accounts.ensure_dc(config.settings().default_dc)
        self.admin_key = opts.admin_key or secrets.token_urlsafe(30)
        accounts.ensure_admin("admin", self.admin_key)

        from devstack.eventbus import EventBus
        self.bus = EventBus(app, opts.table_prefix)
        self.bus.install()
        self.bus.start()

        from devstack.gateway import ApiServer
        self.api = ApiServer(app, "127.0.0.1", opts.port)
        self.api.start()
        if opts.write_state:
            self._write_state()
        return self

    def stop(self) -> None:
        if self.api:
            self.api.stop()
        if self.bus:
            self.bus.stop()
        if self.emulator:
            self.emulator.stop()
        if self.options.write_state and STATE_FILE.exists():
            try:
                if json.loads(STATE_FILE.read_text()).get("pid") == os.getpid():
                    STATE_FILE.unlink()
            except (OSError, ValueError):
                pass

    def _write_state(self) -> None:
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps({
            "pid": os.getpid(), "api_url": self.api_url, "emulator_url": self.emulator.url,
            "table_prefix": self.options.table_prefix,
        }))


def create_tables() -> None:
    from infra.tables import create_table_kwargs, table_resources
    ddb = boto3.client("dynamodb")
    existing = set(ddb.list_tables()["TableNames"])
    for resource in table_resources().values():
        kwargs = create_table_kwargs(resource["Properties"])
        if kwargs["TableName"] not in existing:
            ddb.create_table(**kwargs)
