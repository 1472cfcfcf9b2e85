"""Settings read from the environment.

Everything the service needs to know about its deployment comes from environment variables
(set by `.chalice/config.json` in AWS and by the local stack in development). They are read
once per process, on first use, so importing this module costs nothing.
"""
from __future__ import annotations

import functools
import ipaddress
import os
from dataclasses import dataclass

from chalicelib.domain import names
from chalicelib.domain.vocabulary import OPERATIONS

SERVICE_VERSION = "1.0.0"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if not raw:
        return default
    return raw.lower() in ("1", "true", "yes", "on", "t", "y")


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    """What the deployment configured; every default is in `load` (one place)."""

    table_prefix: str
    image_store_bucket: str
    upload_prefix: str
    default_dc: str
    platform_event_source: str
    source_allow_loopback: bool
    source_allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    manifest_max_bytes: int
    manifest_timeout: float
    file_max_bytes: int
    transfer_part_bytes: int
    auth_cache_seconds: float
    cleanup_grace_seconds: int
    task_retention_seconds: int
    node_token: str
    task_deadline_seconds: int
    export_timeout_seconds: int
    export_heartbeat_seconds: int
    upload_timeout_seconds: int         # an upload not completed by then fails (§4.13)
    file_timeout_seconds: float
    transfer_step_seconds: float
    state_machine_arns: dict[str, str]
    export_queue_prefix: str            # + a node's name: that node's export queue
    export_dead_letter_arn: str         # where export requests no agent takes end up
    part_url_seconds: int               # lifetime of a presigned part URL
    node_token_parameter: str           # SSM SecureString holding the node token
    auth_token_seconds: int             # lifetime of a login token (from the login)
    login_name_ceiling: int             # failed logins of one name per hour, all addresses
    cleanup_schedule: str               # the cleanup's EventBridge schedule expression
    aws_region: str | None              # None: botocore finds it (its own configuration)
    requests_ca_bundle: str             # the usual variable, honoured by guarded sessions
    log_level: str
    log_format: str                     # "json" (default) or "text"

    @property
    def image_server_enabled(self) -> bool:
        return bool(self.image_store_bucket)


def _networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in raw.split(",") if part.strip())


def load() -> Settings:
    """Read the environment now (uncached): for what is fixed at import, such as the events'
    rule patterns, so that reading it does not fill the cache of `settings()`."""
    return Settings(
        table_prefix=_env("IMAGE_API_TABLE_PREFIX") or names.DEFAULT_PREFIX,
        image_store_bucket=_env("IMAGE_STORE_BUCKET"),
        upload_prefix=_env("IMAGE_STORE_UPLOAD_PREFIX") or names.UPLOAD_PREFIX,
        default_dc=_env("IMAGE_API_DEFAULT_DC") or names.DEFAULT_DC,
        platform_event_source=_env("PLATFORM_EVENT_SOURCE") or "danube.platform",
        source_allow_loopback=_env_bool("IMAGE_SOURCE_ALLOW_LOOPBACK", False),
        source_allow_networks=_networks(_env("IMAGE_SOURCE_ALLOW_NETWORKS")),
        manifest_max_bytes=_env_int("MANIFEST_MAX_BYTES", 8192),
        manifest_timeout=float(_env("MANIFEST_TIMEOUT_SECONDS", "5")),
        file_max_bytes=_env_int("IMAGE_FILE_MAX_BYTES", 1 << 40),
        transfer_part_bytes=_env_int("TRANSFER_PART_BYTES", 8 << 20),
        auth_cache_seconds=float(_env("AUTH_CACHE_SECONDS", "5")),
        auth_token_seconds=_env_int("AUTH_TOKEN_SECONDS", 3600),
        login_name_ceiling=_env_int("LOGIN_NAME_CEILING", 100),
        cleanup_grace_seconds=_env_int("CLEANUP_GRACE_SECONDS", 24 * 3600),
        task_retention_seconds=_env_int("TASK_RETENTION_SECONDS", 30 * 24 * 3600),
        node_token=_env("NODE_TOKEN"),
        node_token_parameter=_env("NODE_TOKEN_PARAMETER"),
        task_deadline_seconds=_env_int("TASK_DEADLINE_SECONDS", 6 * 3600),
        export_timeout_seconds=_env_int("EXPORT_TIMEOUT_SECONDS", 86400),
        export_heartbeat_seconds=_env_int("EXPORT_HEARTBEAT_SECONDS", 300),
        upload_timeout_seconds=_env_int("UPLOAD_TIMEOUT_SECONDS", 86400),
        file_timeout_seconds=float(_env("FILE_TIMEOUT_SECONDS", "30")),
        transfer_step_seconds=float(_env("TRANSFER_STEP_SECONDS", "600")),
        state_machine_arns={op: _env(names.state_machine_arn_variable(op)) for op in OPERATIONS},
        export_queue_prefix=_env("EXPORT_QUEUE_PREFIX") or names.export_queue_prefix(
            _env("IMAGE_API_TABLE_PREFIX") or names.DEFAULT_PREFIX),
        export_dead_letter_arn=_env("EXPORT_DEAD_LETTER_ARN"),
        part_url_seconds=_env_int("PART_URL_SECONDS", 900),
        cleanup_schedule=_env("CLEANUP_SCHEDULE") or "rate(15 minutes)",
        aws_region=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION") or None,
        requests_ca_bundle=_env("REQUESTS_CA_BUNDLE"),
        log_level=(_env("LOG_LEVEL") or "INFO").upper(),
        log_format="text" if _env("LOG_FORMAT").lower() == "text" else "json",
    )


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings, read once per process on first use (`reload` forgets them)."""
    return load()


def reload() -> Settings:
    """Forget the cached settings (the local stack and tests change the environment)."""
    settings.cache_clear()
    return settings()
