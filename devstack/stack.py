"""Start and stop the whole local stack: emulator, tables, accounts, event delivery, API."""
from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from chalicelib.domain import names
from chalicelib.domain.vocabulary import OPERATIONS
from devstack import layout
from devstack.emulator import ACCOUNT, REGION, Emulator, start_emulator

log = logging.getLogger("devstack")

# what the operator CLI needs to act like the app (recorded in the state file)
APP_ENV = ["IMAGE_STORE_BUCKET", "EXPORT_DEAD_LETTER_ARN", "IMAGE_SOURCE_ALLOW_LOOPBACK",
           *names.STATE_MACHINE_ARN_VARIABLES]


@dataclass
class StackOptions:
    port: int = 8000
    emulator_port: int = 0
    admin_key: str = ""
    image_server: bool = True
    allow_loopback: bool = True
    table_prefix: str = "imageapi-local"
    write_state: bool = True
    persist: bool = False              # keep the emulator's data in .devstack/data across runs
    fresh: bool = False                # with persist: forget the saved data first
    node_agent: bool = True            # run the real node agent for the local compute node
    cleanup_seconds: float = 0         # run the scheduled cleanup this often (0 = never)
    sample_repo_port: int | None = None  # serve the sample image repository (0: a free port)
    env: dict = field(default_factory=dict)  # extra settings for the app (timeouts, ...)


@dataclass
class Stack:
    options: StackOptions
    emulator: Emulator | None = None
    app: Any = None
    api: Any = None
    bus: Any = None
    watcher: Any = None
    node_agent: Any = None
    admin_key: str = ""
    admin_key_origin: str = ""         # "given", "generated" (new, printed once) or "stored"
    restored: bool = False             # the emulator's data came from an earlier run
    saver: Any = None
    sample_repo: Any = None            # devstack.image_repo.ImageRepository, when served

    @property
    def api_url(self) -> str:
        return self.api.url

    @property
    def imgapi_url(self) -> str:
        return str(self.api.imgapi_url)

    def start(self) -> Stack:
        opts = self.options
        self.emulator = start_emulator(opts.emulator_port)
        if opts.persist:
            self._restore()
        self._configure_app()
        from app import app  # after the environment is set: models bind table names at import
        from devstack.threadsafe import make_thread_safe
        make_thread_safe(app)
        self.app = app
        from devstack.iam import acting, policies
        policies.install(opts.table_prefix)  # each function signs as itself (devstack/iam)
        acting.install()
        create_tables()
        # saved data from before the catalogue's indexes gains their keys (idempotent)
        from chalicelib.services.maintenance import catalogue_migration
        catalogue_migration.migrate()
        if opts.image_server:
            self._create_image_server(app)
        from chalicelib import config
        from chalicelib.services.identity import accounts
        accounts.ensure_dc(config.settings().default_dc)
        self._ensure_admin()
        self._start_delivery(app)
        if self.restored:
            self._finish_interrupted_work()
        self._start_api(app)
        if opts.sample_repo_port is not None:
            from devstack import image_repo
            self.sample_repo = image_repo.ImageRepository(
                image_repo.sample_images(), "127.0.0.1", opts.sample_repo_port).start()
        if opts.image_server and opts.node_agent:
            self._start_node_agent()
        if self.saver:
            self.saver.start()
        if opts.write_state:
            self._write_state()
        from devstack import faults
        faults.arm()  # DEVSTACK_FAULTS: only now, the set-up above is never faulted
        self.api.mark_ready()  # ping answers from now on: ./imagectl works too
        return self

    @property
    def bucket(self) -> str:
        return names.local_bucket_name(self.options.table_prefix)

    def machine_arns(self) -> dict[str, str]:
        from devstack import statemachines
        return {op: statemachines.machine_arn(self.options.table_prefix, op) for op in OPERATIONS}

    def _configure_app(self) -> None:
        """The environment the app reads its deployment from (as the template sets it)."""
        opts = self.options
        dead_letters = names.export_dead_letter_queue_name(opts.table_prefix)
        arns = self.machine_arns()
        os.environ.update({
            "IMAGE_API_TABLE_PREFIX": opts.table_prefix,
            "IMAGE_SOURCE_ALLOW_LOOPBACK": "true" if opts.allow_loopback else "false",
            "IMAGE_STORE_BUCKET": self.bucket if opts.image_server else "",
            "EXPORT_DEAD_LETTER_ARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{dead_letters}",
            **{names.state_machine_arn_variable(op): arns[op] if opts.image_server else ""
               for op in OPERATIONS},
            **opts.env,
        })
        from chalicelib import config
        from chalicelib.adapters import aws
        config.reload()
        aws.reset()

    def _start_delivery(self, app: Any) -> None:
        """Events to the handlers; with the image server, execution ends and the node agent."""
        from devstack.eventbus import EventBus
        opts = self.options
        self.bus = EventBus(app, opts.table_prefix, schedule_seconds=opts.cleanup_seconds)
        self.bus.install()
        self.bus.start()
        if not opts.image_server:
            return
        from devstack.watcher import ExecutionWatcher
        self.watcher = ExecutionWatcher(list(self.machine_arns().values()))
        self.watcher.start()

    def _start_node_agent(self) -> None:
        """The local compute node's agent: the real one, with the fake zfs (control files in
        `.devstack/zfs/`), its queue made as an export would make it."""
        from chalicelib.adapters import node_queues
        from devstack.node_agent import LOCAL_NODE, AgentProcess
        self.node_agent = AgentProcess.start(
            api_url=self.api_url, node=LOCAL_NODE, queue_url=node_queues.ensure(LOCAL_NODE),
            emulator_url=self.emulator.url, zfs_dir=layout.stack_dir() / "zfs", echo=True,
            poll_seconds="5")  # quiet when idle; Ctrl-C waits 5 s at most

    def _restore(self) -> None:
        from devstack.saved_state import SavedState, Saver
        saved = SavedState(layout.data_dir())
        if self.options.fresh:
            saved.erase()
        self.restored = saved.restore()
        self.saver = Saver(saved)

    def _ensure_admin(self) -> None:
        """`IMAGE_API_ADMIN_KEY` when given; else the key stored at the first start (with
        persist), else a new one. A restored admin keeps whatever key it has now."""
        from chalicelib.services.identity import accounts
        opts = self.options
        if opts.admin_key:
            self.admin_key, self.admin_key_origin = opts.admin_key, "given"
            accounts.ensure_admin("admin", self.admin_key)
            return
        stored = layout.admin_key_file()
        if opts.persist and stored.exists():
            self.admin_key, self.admin_key_origin = stored.read_text().strip(), "stored"
        else:
            self.admin_key, self.admin_key_origin = secrets.token_urlsafe(30), "generated"
            if opts.persist:
                _write_private(stored, self.admin_key + "\n")
        accounts.ensure_admin("admin", self.admin_key, replace_key=False)

    def _finish_interrupted_work(self) -> None:
        """Executions that ran when the stack stopped were restored as failed: end their
        tasks and roll back now, as the status event and the reconciler do in AWS."""
        from chalicelib.services.maintenance import reconcile
        from devstack.iam.acting import acting_as
        with acting_as("OnCleanup"):  # the reconciler's work, with its rights
            finished = reconcile.reconcile_tasks().finished
            repaired = reconcile.repair_images().repaired_images
        if finished or repaired:
            log.warning("finished %d task(s) interrupted by the last stop: %s; repaired: %s",
                        len(finished), ", ".join(finished), ", ".join(repaired) or "none")

    def _create_image_server(self, app: Any) -> None:
        from devstack import lambdas, statemachines
        prefix = self.options.table_prefix
        s3 = boto3.client("s3")
        try:
            s3.create_bucket(Bucket=self.bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass  # restored from an earlier run
        s3.put_bucket_notification_configuration(
            Bucket=self.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
        boto3.client("sqs").create_queue(QueueName=names.export_dead_letter_queue_name(prefix))
        function_prefix = f"{prefix}-"
        lambdas.install_dispatch(app, function_prefix)
        arns = lambdas.create_functions(app, function_prefix)
        statemachines.create(prefix, list(OPERATIONS), arns)

    def _start_api(self, app: Any) -> None:
        from devstack.gateway import ApiServer
        self.api = ApiServer(app, "127.0.0.1", self.options.port)
        self.api.start()
        if self.options.image_server:  # the console's uploads, from the port just bound
            self._allow_console_uploads()

    def _allow_console_uploads(self) -> None:
        """The store admits PUTs of upload parts from the console's origin (CORS, as the
        template's rule: infra/store_cors.py)."""
        from infra import store_cors
        port = self.api.server_address[1]
        origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
        boto3.client("s3").put_bucket_cors(
            Bucket=self.bucket, CORSConfiguration=store_cors.bucket_rules(origins))

    def stop(self) -> None:
        if self.node_agent:  # first: exports it stops are reported through the API
            self.node_agent.stop()
        if self.api:
            self.api.stop()
        if self.sample_repo is not None:
            self.sample_repo.stop()
        if self.watcher:
            self.watcher.stop()
        if self.bus:
            self.bus.stop()
        if self.saver:
            self.saver.stop()  # the last save, after everything that writes has stopped
        if self.emulator:
            self.emulator.stop()
        state_file = layout.state_file()
        if self.options.write_state and state_file.exists():
            try:
                if json.loads(state_file.read_text()).get("pid") == os.getpid():
                    state_file.unlink()
            except (OSError, ValueError):
                pass

    def _write_state(self) -> None:
        state_file = layout.state_file()
        state_file.parent.mkdir(parents=True, exist_ok=True)
        app_env = {key: os.environ.get(key, "") for key in APP_ENV}
        state_file.write_text(json.dumps({
            "pid": os.getpid(), "api_url": self.api_url, "imgapi_url": self.imgapi_url,
            "emulator_url": self.emulator.url,
            "table_prefix": self.options.table_prefix, "env": app_env,
            **({"sample_repo_url": self.sample_repo.repository_url,
                "sample_manifest_urls": [self.sample_repo.manifest_url(image)
                                         for image in self.sample_repo.images]}
               if self.sample_repo is not None else {}),
        }))


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def create_tables() -> None:
    """Every table of the models; a table kept from an earlier version (saved state) gets the
    indexes it lacks, as a CloudFormation update would add them."""
    from infra.tables import create_table_kwargs, table_resources
    ddb = boto3.client("dynamodb")
    existing = set(ddb.list_tables()["TableNames"])
    for resource in table_resources().values():
        kwargs = create_table_kwargs(resource["Properties"])
        if kwargs["TableName"] not in existing:
            ddb.create_table(**kwargs)
        else:
            _add_missing_indexes(ddb, kwargs)


def _add_missing_indexes(ddb: Any, wanted: dict[str, Any]) -> None:
    table = ddb.describe_table(TableName=wanted["TableName"])["Table"]
    present = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    for index in wanted.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] not in present:
            ddb.update_table(TableName=wanted["TableName"],
                             AttributeDefinitions=wanted["AttributeDefinitions"],
                             GlobalSecondaryIndexUpdates=[{"Create": index}])
