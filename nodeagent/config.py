"""The agent's settings: a small TOML file (`[agent]` table), each key overridable by an
environment variable `IMAGEAPI_AGENT_<KEY>` (upper case). Example file:

    [agent]
    api_url = "https://images.example.com/api"
    node = "cn07"
    queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/imageapi-prod-export-cn07"
    node_token = "..."            # or IMAGEAPI_AGENT_NODE_TOKEN, kept out of the file
    zfs = "/usr/sbin/zfs"
    max_exports = 2               # exports at once
    part_size_mib = 8             # first part size; sizes double every 900 parts
    upload_workers = 2            # parts of one export in flight
    bandwidth_limit_mib = 0       # MiB/s over all exports; 0: no limit
    poll_seconds = 20             # SQS long-poll wait (a stop waits for it at most)
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

MIB = 1 << 20
ENV_PREFIX = "IMAGEAPI_AGENT_"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it."""


@dataclass(frozen=True)
class AgentConfig:
    api_url: str
    node: str
    queue_url: str
    node_token: str = ""
    zfs: str = "zfs"
    max_exports: int = 2
    part_size_mib: int = 8
    upload_workers: int = 2
    bandwidth_limit_mib: float = 0.0
    gzip_level: int = 6
    sqs_region: str = ""
    sqs_endpoint_url: str = ""
    api_timeout_seconds: float = 30.0
    poll_seconds: int = 20
    log_level: str = "INFO"

    @property
    def part_size(self) -> int:
        return self.part_size_mib * MIB

    @property
    def bandwidth_limit(self) -> float:
        """Bytes per second, 0 for none."""
        return self.bandwidth_limit_mib * MIB

    def check(self) -> AgentConfig:
        for name in ("api_url", "node", "queue_url"):
            if not getattr(self, name):
                raise ConfigError(f"{name} is not set (in the config file or {ENV_PREFIX}"
                                  f"{name.upper()})")
        if not self.api_url.startswith(("http://", "https://")):
            raise ConfigError("api_url must be an http(s) URL")
        if not 5 <= self.part_size_mib <= 5120:
            raise ConfigError("part_size_mib must be between 5 and 5120 (S3's part limits)")
        for name in ("max_exports", "upload_workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.bandwidth_limit_mib < 0:
            raise ConfigError("bandwidth_limit_mib must not be negative")
        if not 1 <= self.poll_seconds <= 20:
            raise ConfigError("poll_seconds must be between 1 and 20 (SQS long polling)")
        if not 0 <= self.gzip_level <= 9:
            raise ConfigError("gzip_level must be between 0 and 9")
        return self


def load(path: str | Path | None, environ: dict[str, str] | None = None) -> AgentConfig:
    """The file's `[agent]` table (if a path is given), then the environment on top."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as handle:
                values.update(tomllib.load(handle).get("agent", {}))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    known = {field.name: field for field in fields(AgentConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(unknown)}")
    for name in known:
        if ENV_PREFIX + name.upper() in environ:
            values[name] = environ[ENV_PREFIX + name.upper()]
    for name, value in list(values.items()):
        values[name] = _coerce(name, value, known[name].type)
    missing = {"api_url": "", "node": "", "queue_url": ""}
    return AgentConfig(**{**missing, **values}).check()


def _coerce(name: str, value: Any, kind: Any) -> Any:
    kind = str(kind)
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, not {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string")
    return value
