"""Transfer budget (DESIGN "Performance budgets"): file_url → store, SHA-1 and SHA-256 in the
same pass (SPEC §4.14).

Set-up, all on 127.0.0.1:
  - moto's S3 in its own process (`python -m moto.server`), so the data it keeps is not counted
    (told to keep objects in memory rather than temporary files: less disk noise);
  - an HTTP server (a thread of this process) serving /file/<size>: deterministic pseudo-random
    bytes generated on the fly, with Content-Length (nothing large is held or written to disk).
Every sample is a fresh child process that times only the transfer (imports and client creation
excluded) and reports its peak RSS (ru_maxrss) and CPU time; the emulator's CPU time per sample
is shown too (on a small machine the emulator is the bottleneck, so both kinds are bounded by it):

  project    chalicelib.adapters.sources.open_download + chalicelib.adapters.transfer.transfer
             (loopback-allowing policy, 8 MiB parts, default max_workers), one unbounded run —
             the import step's transfer code
  resumable  the same in step runs of 1 s (TRANSFER_STEP_SECONDS=1): every run continues the
             source with Range/If-Range and the upload and SHA-1 from the last run's checkpoint,
             carried over as JSON the way the task record carries it
  short-runs the same in runs of 0.25 s (at a few hundred MiB/s, 1 s runs may resume only once)
  baseline   requests.get(stream=True) + boto3 upload_fileobj(resp.raw), default TransferConfig

Every round runs one sample of each kind back to back (rotating which goes first); figures are
medians over --runs rounds of a --size MiB file. Then one project sample of 64 MiB and one of
1 GiB: their peak RSS, and the slope of their CPU times (CPU per further GiB, without the costs
paid once per process). The store object is deleted after every sample. SHA-1 and SHA-256
verification of what was stored is part of every project/resumable sample.

Printed last:
  resume_overhead     resumable seconds / project seconds, same round        target <= 1.10
  transfer_cpu_ratio  project CPU s per GiB / hashlib.sha1 + hashlib.sha256 CPU s per GiB
                      (1 GiB of the same bytes in this process, same run)    target <= 1.6
  transfer_ratio      project / baseline throughput, same round              target >= 0.85
  rss_growth_mib      peak RSS at 1 GiB - peak RSS at 64 MiB                 target <= 30

Usage: python bench/transfer.py [--runs N] [--size MIB] [--workers N]
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
BUCKET = "bench-transfer"
PART_SIZE = 8 * MIB  # the import step's default (TRANSFER_PART_BYTES)
SAMPLE_TIMEOUT = 900  # seconds for one child (1 GiB at a few MiB/s on a slow machine)
# TRANSFER_STEP_SECONDS of the resumable kinds: the 1 s (on a fast machine 256 MiB may
# need only two runs) and a short one that makes every sample resume several times
STEP_SECONDS = {"resumable": 1.0, "short-runs": 0.25}

# --- the generated files -------------------------------------------------------------------------

_POOL_SIZE = 8 * MIB + 4093
_POOL = memoryview(random.Random(20240601).randbytes(_POOL_SIZE))


def _block(index: int) -> memoryview:
    """The index-th MiB of every generated file (deterministic, pseudo-random, no big buffers)."""
    start = (index * 1_000_003) % (_POOL_SIZE - MIB)
    return _POOL[start:start + MIB]


class _FileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        try:
            size = int(self.path.rsplit("/", 1)[-1])
        except ValueError:
            self.send_error(404)
            return
        start = self._range_start(size)
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"bench-{size}"')
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        try:  # whole MiB blocks from the pool, the first one cut at `start`
            sent, index = start, start // MIB
            while sent < size:
                block = _block(index)[sent - index * MIB:size - index * MIB]
                self.wfile.write(block)
                sent += len(block)
                index += 1
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _range_start(self, size: int) -> int:
        value = self.headers.get("Range", "")
        if not value.startswith("bytes=") or self.headers.get("If-Range") != f'"bench-{size}"':
            return 0
        return min(int(value[len("bytes="):].split("-")[0]), size)

    def log_message(self, *args: object) -> None:
        pass


@functools.cache
def expected_digests(size: int) -> tuple[str, str]:
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()
    for index in range(-(-size // MIB)):
        sha1.update(_block(index)[:size - index * MIB])
        sha256.update(_block(index)[:size - index * MIB])
    return sha1.hexdigest(), sha256.hexdigest()


def serve_files() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FileHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the emulator --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    import requests
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                             "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("moto server exited at start-up")
        try:
            requests.get(f"{url}/moto-api/", timeout=5)
            return proc, url
        except requests.RequestException:  # not listening yet, or too busy starting to answer
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("moto server did not start")


def child_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env.update({
        "PYTHONPATH": str(ROOT),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


# --- one sample (in a child process) -------------------------------------------------------------

def child(kind: str, url: str, key: str, step_seconds: float, workers: int) -> None:
    import boto3
    import requests  # noqa: F401  (both kinds pay for it before the clock starts)
    if kind == "baseline":
        s3 = boto3.client("s3")
    else:
        from chalicelib.adapters import aws
        s3 = aws.client("s3")  # the app's own client and its configuration
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before, user_before = usage.ru_utime + usage.ru_stime, usage.ru_utime
    started = time.perf_counter()
    runs = 1
    if kind == "baseline":
        with requests.get(url, stream=True, timeout=30) as response:
            response.raise_for_status()
            s3.upload_fileobj(response.raw, BUCKET, key)
        size, digests = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"], None
    else:
        size, digests, runs = _project_transfer(s3, url, key, step_seconds, workers)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "size": size, "digests": digests, "runs": runs,
                      "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
                      "cpu_s": usage.ru_utime + usage.ru_stime - cpu_before,
                      "user_s": usage.ru_utime - user_before,
                      "system_s": usage.ru_stime - (cpu_before - user_before)}))


def _project_transfer(s3, url: str, key: str, step_seconds: float,
                      workers: int) -> tuple[int, list[str], int]:
    """The import step's transfer: runs of `step_seconds` (0: one run), each continuing the
    source with Range/If-Range and the upload from the last run's checkpoint, carried over
    as JSON, as the task record carries it between step runs."""
    from chalicelib.adapters.sources import open_download
    from chalicelib.adapters.transfer import Checkpoint, transfer
    from chalicelib.domain.urlpolicy import SourcePolicy
    policy = SourcePolicy(allow_loopback=True)
    options = {"max_workers": workers} if workers else {}
    saved: dict | None = None
    validator = None
    runs = 0
    while True:
        runs += 1
        checkpoint = Checkpoint.from_dict(json.loads(json.dumps(saved))) if saved else None
        offset = checkpoint.offset if checkpoint else 0
        download = open_download(url, policy=policy, timeout=30, start=offset,
                                 validator=validator)
        validator = validator or download.validator
        try:
            stop_at = time.monotonic() + step_seconds if step_seconds else None
            outcome = transfer(download.read_into, s3=s3, bucket=BUCKET, key=key,
                               part_size=PART_SIZE, checkpoint=checkpoint, stop_at=stop_at,
                               **options)
        finally:
            download.close()
        saved = outcome.checkpoint.as_dict()
        if outcome.done:
            return outcome.size, [str(outcome.sha1), str(outcome.sha256)], runs


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process (Linux /proc), 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample(kind: str, file_url: str, size: int, env: dict[str, str], args: argparse.Namespace,
           s3, emulator_pid: int) -> dict[str, float]:
    key = f"{kind}-{size}"
    emulator_before = process_cpu_seconds(emulator_pid)
    try:
        step_seconds = STEP_SECONDS.get(kind, 0)
        proc = subprocess.run([sys.executable, __file__, "--child", kind, file_url, key,
                               str(step_seconds), str(args.workers)],
                              cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=SAMPLE_TIMEOUT)
        if proc.returncode != 0:
            raise SystemExit(f"{kind} child failed:\n{proc.stderr}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["emulator_cpu_s"] = process_cpu_seconds(emulator_pid) - emulator_before
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{kind} child did not finish within {SAMPLE_TIMEOUT} s") from None
    finally:
        s3.delete_object(Bucket=BUCKET, Key=key)
    if result["size"] != size:
        raise SystemExit(f"{kind}: stored {result['size']} bytes, expected {size}")
    if result["digests"] is not None and tuple(result["digests"]) != expected_digests(size):
        raise SystemExit(f"{kind}: digests {result['digests']} != {expected_digests(size)}")
    result["mib_per_s"] = size / MIB / result["seconds"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="samples of each kind (default 7)")
    parser.add_argument("--size", type=int, default=256, help="throughput file, MiB (256)")
    parser.add_argument("--workers", type=int, default=0,
                        help="transfer() max_workers (default: its default)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url, key, step_seconds, workers = args.child
        child(kind, url, key, float(step_seconds), int(workers))
        return 0

    import boto3
    files = serve_files()
    file_base = f"http://127.0.0.1:{files.server_address[1]}/file"
    # moto keeps objects and parts above this size in temporary files; in memory instead, the
    # emulator's disk writes neither slow nor add noise to the figures (objects are deleted).
    moto_env = dict(child_env("http://unused"), MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=str(4 << 30))
    moto, endpoint = start_moto(moto_env)
    env = child_env(endpoint)
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    try:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        size = args.size * MIB
        url = f"{file_base}/{size}"
        sample("project", url, size, env, args, s3, moto.pid)  # warm-up (discarded): .pyc, caches
        sample("baseline", url, size, env, args, s3, moto.pid)
        samples: dict[str, list[dict]] = {kind: [] for kind in ("project", "baseline",
                                                                 *STEP_SECONDS)}
        kinds = list(samples)
        for i in range(args.runs):
            for kind in kinds[i % len(kinds):] + kinds[:i % len(kinds)]:  # no kind always first
                r = sample(kind, url, size, env, args, s3, moto.pid)
                samples[kind].append(r)
                print(f"  {kind:10} {args.size} MiB: {r['seconds']:.2f} s, "
                      f"{r['mib_per_s']:.1f} MiB/s, {r['runs']} step run(s), "
                      f"peak RSS {r['peak_rss_mib']:.1f} MiB, CPU {r['cpu_s']:.2f} s "
                      f"(emulator {r['emulator_cpu_s']:.2f} s)", flush=True)
        floor_cpu_per_gib = statistics.median(hash_floor_cpu_seconds_per_gib() for _ in range(5))
        small, large = (sample("project", f"{file_base}/{mib * MIB}", mib * MIB, env, args, s3,
                               moto.pid) for mib in (64, 1024))
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        files.shutdown()

    project, baseline = samples["project"], samples["baseline"]
    project_tp = statistics.median(r["mib_per_s"] for r in project)
    baseline_tp = statistics.median(r["mib_per_s"] for r in baseline)
    # each round's samples ran back to back; the median of their ratios cancels the emulator's
    # drift between rounds
    paired = statistics.median(p["mib_per_s"] / b["mib_per_s"]
                               for p, b in zip(project, baseline, strict=True))
    # CPU per GiB is the slope between the 64 MiB and the 1 GiB sample: what each further GiB
    # costs, without the once-per-process costs (botocore loading a paginator, say)
    cpu_per_gib = (large["cpu_s"] - small["cpu_s"]) / (960 / 1024)
    workers = args.workers or _default_workers()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, part size "
          f"{PART_SIZE // MIB} MiB, max_workers {workers}, {args.runs} rounds")
    for kind, results in samples.items():
        step = f", step runs of {STEP_SECONDS[kind]:g} s" if kind in STEP_SECONDS else ""
        print(f"{kind}: median {statistics.median(r['mib_per_s'] for r in results):.1f} MiB/s, "
              f"CPU {statistics.median(r['cpu_s'] for r in results):.2f} s, "
              f"peak RSS {statistics.median(r['peak_rss_mib'] for r in results):.1f} MiB"
              f"{step} (median {statistics.median(r['runs'] for r in results):g} runs)")
    for name, r in (("64 MiB", small), ("1 GiB", large)):
        print(f"project {name}: {r['mib_per_s']:.1f} MiB/s, CPU {r['cpu_s']:.2f} s "
              f"(user {r['user_s']:.2f}, system {r['system_s']:.2f}), "
              f"peak RSS {r['peak_rss_mib']:.1f} MiB")
    print(f"project_cpu_s_per_gib: {cpu_per_gib:.2f}")
    print(f"hashlib_sha1_sha256_cpu_s_per_gib: {floor_cpu_per_gib:.2f}")
    print(f"ratio_of_medians: {project_tp / baseline_tp:.2f}")
    for kind in STEP_SECONDS:
        overhead = statistics.median(r["seconds"] / p["seconds"]
                                     for r, p in zip(samples[kind], project, strict=True))
        name = "resume_overhead" if kind == "resumable" else f"resume_overhead_{kind}"
        print(f"{name}: {overhead:.2f}")
    print(f"transfer_cpu_ratio: {cpu_per_gib / floor_cpu_per_gib:.2f}")
    print(f"transfer_ratio: {paired:.2f}")
    growth = large["peak_rss_mib"] - small["peak_rss_mib"]
    print(f"rss_growth_mib: {growth:.1f}".replace("-0.0", "0.0"))
    return 0


def hash_floor_cpu_seconds_per_gib() -> float:
    """The floor of any verified copy: hashlib.sha1 and hashlib.sha256 over 1 GiB of the
    generated file's blocks, in this process (the blocks are views into one pool: nothing else
    is measured)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    before = usage.ru_utime + usage.ru_stime
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()
    for index in range(1024):
        sha1.update(_block(index))
        sha256.update(_block(index))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime - before


def _default_workers() -> int:
    import inspect
    sys.path.insert(0, str(ROOT))
    from chalicelib.adapters.transfer import transfer
    return inspect.signature(transfer).parameters["max_workers"].default


if __name__ == "__main__":
    sys.exit(main())
