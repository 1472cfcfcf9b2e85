"""The real node agent (`python -m nodeagent`) as the local stack's compute node runs it: a child
process with its settings in the environment, the fake `zfs` (devstack/bin/zfs) as its zfs, and
the emulator's SQS as its queue. Tests start agents of their own the same way.

Its JSON log lines are kept (`lines`, `events()`) and, for `make run`, echoed to stderr.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAKE_ZFS = ROOT / "devstack" / "bin" / "zfs"
LOCAL_NODE = "node1"


@dataclass
class AgentProcess:
    process: subprocess.Popen[str]
    echo: bool = False
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @classmethod
    def start(cls, *, api_url: str, node: str, queue_url: str, emulator_url: str,
              zfs_dir: Path, echo: bool = False, **settings: str) -> AgentProcess:
        """`settings`: more agent settings by name (part_size_mib="5", max_exports="1", ...)."""
        zfs_dir.mkdir(parents=True, exist_ok=True)
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("IMAGEAPI_AGENT_")}
        env.update({
            "IMAGEAPI_AGENT_API_URL": api_url, "IMAGEAPI_AGENT_NODE": node,
            "IMAGEAPI_AGENT_QUEUE_URL": queue_url, "IMAGEAPI_AGENT_ZFS": str(FAKE_ZFS),
            "IMAGEAPI_AGENT_SQS_ENDPOINT_URL": emulator_url,
            "IMAGEAPI_AGENT_SQS_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "IMAGEAPI_AGENT_NODE_TOKEN": os.environ.get("NODE_TOKEN", ""),
            "IMAGEAPI_AGENT_POLL_SECONDS": "1",  # stops at once (tests start and stop many)
            "FAKE_ZFS_DIR": str(zfs_dir), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            **{f"IMAGEAPI_AGENT_{name.upper()}": value for name, value in settings.items()},
        })
        _sign_as_node(env, node)
        process = subprocess.Popen([sys.executable, "-m", "nodeagent"], cwd=ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        agent = cls(process, echo)
        agent.reader = threading.Thread(target=agent._read, daemon=True)
        agent.reader.start()
        return agent

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The agent's log entries so far (those named `name`)."""
        entries = []
        for line in list(self.lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if name is None or entry.get("event") == name:
                entries.append(entry)
        return entries

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a service manager stops it; SIGKILL if it does not end in time."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int:
        return self._end(signal.SIGKILL, 10)

    def _end(self, how: signal.Signals, timeout: float) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        if self.reader:
            self.reader.join(timeout=5)
        return code

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            if self.echo:
                sys.stderr.write("agent: " + line)


def _sign_as_node(env: dict[str, str], node: str) -> None:
    """The node's own key, held to NodeAgentPolicy with its queue as the principal tag, as a
    deployed node's role or user is (devstack/iam); the stack's key when IAM is off."""
    from devstack.iam import enabled, policies
    known = policies.current()
    if known is None or not enabled():
        return
    key, secret = known.credentials(f"{policies.NODE_AGENT}-{node}")
    env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    env.pop("AWS_SESSION_TOKEN", None)
