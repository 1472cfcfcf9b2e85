"""Snapshot export budget (issue 11): the node agent's `zfs send | gzip | parts` against a plain
pipeline doing the same work, in the same run.

Set-up, all on 127.0.0.1: the local stack in this process (emulator, API, workflows), as the
tests start it; the fake `zfs` (devstack/bin/zfs: deterministic bytes, half of each 64 KiB
block compressible, like a disk with data on it); gzip level 6 on both sides.

  agent     the real agent (`python -m nodeagent`, a child process, 8 MiB parts, 2 upload
            workers) exporting a VM snapshot for `POST /vm/../snapshot/../image/..`: it asks
            the API for a presigned URL per part, reports progress, completes through the API.
            Timed by the agent itself (its `export.done` line: zfs start to completion).
  baseline  a child process running `zfs send` (the same fake) | zlib gzip | boto3's
            upload_fileobj (default TransferConfig: 8 MiB parts, 10 threads) into the store —
            the least a program must do to get the same object there. Timed from zfs start to
            the completed upload.

Every round runs one sample of each (alternating which goes first); the store is emptied of the
sample's objects after each. Then the agent's peak RSS (VmHWM of its process) for a 64 MiB and
a 1 GiB export, each in a fresh agent. Printed last:

  export_ratio           agent / baseline throughput, same round (median)    target >= 0.85
  export_rss_growth_mib  agent peak RSS at 1 GiB - at 64 MiB                 target <= 30

Usage: python bench/export.py [--runs N] [--size MIB]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEVSTACK_STATE", str(Path(tempfile.gettempdir()) / "bench-export-state"))

MIB = 1 << 20
VM = "6a1f7c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
FILESYSTEM = "zones/bench-disk0"
SAMPLE_TIMEOUT = 1800  # seconds for one sample (1 GiB at a few MiB/s on a slow machine)

BASELINE = r"""
import io, json, os, subprocess, sys, time, zlib
import boto3
bucket, key, zfs, source, level = *sys.argv[1:5], int(sys.argv[5])
s3 = boto3.client("s3")

class Gzipped(io.RawIOBase):
    def __init__(self, stream):
        self.stream, self.buffer, self.size = stream, bytearray(), 0
        self.compressor, self.done = zlib.compressobj(level, zlib.DEFLATED, 31), False
    def readable(self):
        return True
    def readinto(self, target):
        while len(self.buffer) < len(target) and not self.done:
            chunk = self.stream.read1(1 << 20)
            if chunk:
                self.buffer += self.compressor.compress(chunk)
            else:
                self.buffer += self.compressor.flush()
                self.done = True
        count = min(len(target), len(self.buffer))
        target[:count] = self.buffer[:count]
        del self.buffer[:count]
        self.size += count
        return count

started = time.perf_counter()
zfs_send = subprocess.Popen([zfs, "send", source], stdout=subprocess.PIPE)
body = Gzipped(zfs_send.stdout)
s3.upload_fileobj(io.BufferedReader(body, 1 << 20), bucket, key)
assert zfs_send.wait() == 0
print(json.dumps({"seconds": time.perf_counter() - started, "bytes": body.size}))
"""


class Bench:
    def __init__(self, workdir: Path) -> None:
        from devstack.stack import Stack, StackOptions
        from tests.support import Api
        self.workdir = workdir
        self.stack = Stack(StackOptions(
            port=0, admin_key="bench-export-key", write_state=False, node_agent=False,
            env={"EXPORT_TIMEOUT_SECONDS": "7200", "EXPORT_HEARTBEAT_SECONDS": "300"})).start()
        from chalicelib.services.identity import accounts
        accounts.ensure_dc("main")
        self.api = Api(self.stack.api_url, self.stack.admin_key)
        self.snapshots = 0

    def close(self) -> None:
        self.stack.stop()

    # --- samples -------------------------------------------------------------------------------

    def agent_sample(self, size: int) -> dict:
        """One export by a fresh agent; its seconds, bytes, and peak RSS."""
        from chalicelib.adapters import node_queues
        from chalicelib.services.platform import read_models
        from devstack.node_agent import AgentProcess
        from tests.support import wait_for
        node = f"bench-{uuid.uuid4().hex[:8]}"
        zfs_dir = self.workdir / node
        snapshot = self._shape(zfs_dir, size)
        agent = AgentProcess.start(api_url=self.stack.api_url, node=node,
                                   queue_url=node_queues.ensure(node),
                                   emulator_url=self.stack.emulator.url, zfs_dir=zfs_dir)
        try:
            wait_for(lambda: agent.events("agent.started"), 120, 0.2,
                     message="the agent did not start")
            read_models.apply("VM State", {
                "uuid": VM, "hostname": "bench", "dc": "main", "owner": "admin",
                "status": "running", "ostype": 1, "version": self.snapshots + 1, "node": node,
                "disks": [{"image_uuid": None, "size": 10240, "zfs_filesystem": FILESYSTEM}]})
            read_models.apply("Snapshot State", {
                "vm_uuid": VM, "name": snapshot, "disk_id": 1, "zfs_name": snapshot,
                "status": "ok", "version": 1})
            name = f"bench-{snapshot}"
            r = self.api.post(f"/vm/{VM}/snapshot/{snapshot}/image/{name}", {})
            assert r.status_code == 201, r.text
            task_id = r.json()["task_id"]
            done = wait_for(lambda: agent.events("export.done") or agent.events("export.failed"),
                            SAMPLE_TIMEOUT, 0.2, message="the export did not end")[0]
            assert done["event"] == "export.done", done
            peak_kib = _peak_rss_kib(agent.process.pid)
            self._finish(task_id, name)
        finally:
            agent.stop()
        return {"seconds": done["seconds"], "bytes": done["bytes"], "rss_mib": peak_kib / 1024}

    def baseline_sample(self, size: int) -> dict:
        from devstack.node_agent import FAKE_ZFS
        zfs_dir = self.workdir / f"baseline-{uuid.uuid4().hex[:8]}"
        snapshot = self._shape(zfs_dir, size)
        key = f"bench/baseline-{snapshot}"
        env = {**os.environ, "FAKE_ZFS_DIR": str(zfs_dir), "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", BASELINE, self.stack.bucket, key, str(FAKE_ZFS),
             f"{FILESYSTEM}@{snapshot}", "6"], env=env, capture_output=True, text=True,
            timeout=SAMPLE_TIMEOUT, check=False)
        if out.returncode:
            raise RuntimeError(f"baseline failed: {out.stderr[-2000:]}")
        import boto3
        boto3.client("s3").delete_object(Bucket=self.stack.bucket, Key=key)
        return json.loads(out.stdout.strip().splitlines()[-1])

    # -------------------------------------------------------------------------------------------

    def _shape(self, zfs_dir: Path, size: int) -> str:
        self.snapshots += 1
        snapshot = f"es-{self.snapshots}"
        zfs_dir.mkdir(parents=True, exist_ok=True)
        (zfs_dir / f"{snapshot}.json").write_text(json.dumps({"size": size}))
        return snapshot

    def _finish(self, task_id: str, name: str) -> None:
        """Wait for the ingest, then delete the image (the emulator keeps objects in memory)."""
        from tests.integration.workflow_support import wait_task
        assert wait_task(self.api, task_id, timeout=SAMPLE_TIMEOUT).status_code == 200
        r = self.api.delete(f"/image/{name}")
        if r.status_code == 201:
            wait_task(self.api, r.json()["task_id"], timeout=SAMPLE_TIMEOUT)


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="MiB of zfs output per sample")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as workdir:
        bench = Bench(Path(workdir))
        try:
            ratios = []
            for round_ in range(args.runs):
                kinds = ["agent", "baseline"] if round_ % 2 == 0 else ["baseline", "agent"]
                results = {}
                for kind in kinds:
                    sample = getattr(bench, f"{kind}_sample")(args.size * MIB)
                    results[kind] = sample
                    print(f"  round {round_ + 1} {kind:8} {args.size} MiB: "
                          f"{sample['seconds']:.2f} s ({args.size / sample['seconds']:.1f} MiB/s "
                          f"of zfs output, {sample['bytes'] / MIB:.1f} MiB gzip)", flush=True)
                ratios.append(results["baseline"]["seconds"] / results["agent"]["seconds"])
            small = bench.agent_sample(64 * MIB)
            large = bench.agent_sample(1024 * MIB)
            print(f"  agent peak RSS: {small['rss_mib']:.1f} MiB at 64 MiB, "
                  f"{large['rss_mib']:.1f} MiB at 1 GiB ({1024 / large['seconds']:.1f} MiB/s)")
        finally:
            bench.close()
    print(f"export_ratio: {statistics.median(ratios):.2f}")
    print(f"export_rss_growth_mib: {large['rss_mib'] - small['rss_mib']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
