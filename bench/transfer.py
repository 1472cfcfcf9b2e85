"""Transfer budget (DESIGN "Performance budgets"): file_url → store, SHA-1 in the same pass.

Set-up, all on 127.0.0.1:
  - moto's S3 in its own process (`python -m moto.server`), so the data it keeps is not counted
    (told to keep objects in memory rather than temporary files: less disk noise);
  - an HTTP server (a thread of this process) serving /file/<size>: deterministic pseudo-random
    bytes generated on the fly, with Content-Length (nothing large is held or written to disk).
Every sample is a fresh child process that times only the transfer (imports and client creation
excluded) and reports its peak RSS (ru_maxrss) and CPU time; the emulator's CPU time per sample
is shown too (on a small machine the emulator is the bottleneck, so both kinds are bounded by it):

  project   chalicelib.adapters.sources.open_stream + iter_body (SOURCE_CHUNK_SIZE) +
            chalicelib.adapters.transfer.stream_to_store (loopback-allowing policy, 8 MiB parts,
            default max_workers) — the import step's transfer code
  baseline  requests.get(stream=True) + boto3 upload_fileobj(resp.raw), default TransferConfig

Throughput: median of --runs interleaved samples of each on a --size MiB file. Memory: peak RSS of
the project child for a 64 MiB and a 1 GiB file. The store object is deleted after every sample.
The last two lines printed are `transfer_ratio: X` (project / baseline throughput) and
`rss_growth_mib: Y` (peak RSS at 1 GiB − peak RSS at 64 MiB). Targets: ≥ 0.85 and ≤ 30.

Usage: python bench/transfer.py [--runs N] [--size MIB] [--chunk-size BYTES] [--workers N]
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
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        sent, index = 0, 0
        try:
            while sent < size:
                block = _block(index)[:size - sent]
                self.wfile.write(block)
                sent += len(block)
                index += 1
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@functools.cache
def expected_sha1(size: int) -> str:
    digest = hashlib.sha1()
    for index in range(-(-size // MIB)):
        digest.update(_block(index)[:size - index * MIB])
    return digest.hexdigest()


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

def child(kind: str, url: str, key: str, chunk_size: int, workers: int) -> None:
    import boto3
    import requests  # noqa: F401  (both kinds pay for it before the clock starts)
    s3 = boto3.client("s3")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    if kind == "project":
        from chalicelib.adapters.sources import iter_body, open_stream
        from chalicelib.adapters.transfer import SOURCE_CHUNK_SIZE, stream_to_store
        from chalicelib.domain.urlpolicy import SourcePolicy
        policy = SourcePolicy(allow_loopback=True)
        started = time.perf_counter()
        response = open_stream(url, policy=policy, timeout=30)
        with response:
            options = {"max_workers": workers} if workers else {}
            chunks = iter_body(response, chunk_size or SOURCE_CHUNK_SIZE)
            result = stream_to_store(chunks, s3=s3, bucket=BUCKET, key=key,
                                     part_size=PART_SIZE, **options)
        seconds = time.perf_counter() - started
        size, sha1 = result.size, result.sha1
    else:
        started = time.perf_counter()
        with requests.get(url, stream=True, timeout=30) as response:
            response.raise_for_status()
            s3.upload_fileobj(response.raw, BUCKET, key)
        seconds = time.perf_counter() - started
        size, sha1 = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"], None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "size": size, "sha1": sha1,
                      "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
                      "cpu_s": usage.ru_utime + usage.ru_stime - cpu_before}))


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
        proc = subprocess.run([sys.executable, __file__, "--child", kind, file_url, key,
                               str(args.chunk_size), str(args.workers)],
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
    if result["sha1"] is not None and result["sha1"] != expected_sha1(size):
        raise SystemExit(f"{kind}: SHA-1 {result['sha1']} != {expected_sha1(size)}")
    result["mib_per_s"] = size / MIB / result["seconds"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="samples of each kind (default 7)")
    parser.add_argument("--size", type=int, default=256, help="throughput file, MiB (256)")
    parser.add_argument("--chunk-size", type=int, default=0,
                        help="iter_body chunk size of the project code "
                             "(default: chalicelib.adapters.transfer.SOURCE_CHUNK_SIZE)")
    parser.add_argument("--workers", type=int, default=0,
                        help="stream_to_store max_workers (default: its default)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url, key, chunk_size, workers = args.child
        child(kind, url, key, int(chunk_size), int(workers))
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
        project: list[dict] = []
        baseline: list[dict] = []
        for i in range(args.runs):
            order = [("project", project), ("baseline", baseline)]
            if i % 2:
                order.reverse()
            for kind, results in order:
                results.append(sample(kind, url, size, env, args, s3, moto.pid))
                r = results[-1]
                print(f"  {kind:8} {args.size} MiB: {r['seconds']:.2f} s, "
                      f"{r['mib_per_s']:.1f} MiB/s, peak RSS {r['peak_rss_mib']:.1f} MiB, "
                      f"CPU {r['cpu_s']:.2f} s (emulator {r['emulator_cpu_s']:.2f} s)",
                      flush=True)
        small = sample("project", f"{file_base}/{64 * MIB}", 64 * MIB, env, args, s3, moto.pid)
        large = sample("project", f"{file_base}/{1024 * MIB}", 1024 * MIB, env, args, s3, moto.pid)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        files.shutdown()

    project_tp = statistics.median(r["mib_per_s"] for r in project)
    baseline_tp = statistics.median(r["mib_per_s"] for r in baseline)
    # each run's pair ran back to back; the median of their ratios cancels the emulator's drift
    paired = statistics.median(p["mib_per_s"] / b["mib_per_s"]
                               for p, b in zip(project, baseline, strict=True))
    workers = args.workers or _default_workers()
    chunk = args.chunk_size or "SOURCE_CHUNK_SIZE"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, part size "
          f"{PART_SIZE // MIB} MiB, iter_body chunk {chunk}, max_workers {workers}, "
          f"{args.runs} runs of each kind")
    print(f"project_median_mib_per_s: {project_tp:.1f}")
    print(f"baseline_median_mib_per_s: {baseline_tp:.1f}")
    print(f"baseline_peak_rss_mib ({args.size} MiB): "
          f"{statistics.median(r['peak_rss_mib'] for r in baseline):.1f}")
    print(f"project_peak_rss_mib (64 MiB): {small['peak_rss_mib']:.1f} "
          f"({small['mib_per_s']:.1f} MiB/s)")
    print(f"project_peak_rss_mib (1 GiB): {large['peak_rss_mib']:.1f} "
          f"({large['mib_per_s']:.1f} MiB/s)")
    print(f"ratio_of_medians: {project_tp / baseline_tp:.2f}")
    print(f"transfer_ratio: {paired:.2f}")
    growth = large["peak_rss_mib"] - small["peak_rss_mib"]
    print(f"rss_growth_mib: {growth:.1f}".replace("-0.0", "0.0"))
    return 0


def _default_workers() -> int:
    import inspect
    sys.path.insert(0, str(ROOT))
    from chalicelib.adapters.transfer import stream_to_store
    return inspect.signature(stream_to_store).parameters["max_workers"].default


if __name__ == "__main__":
    sys.exit(main())
