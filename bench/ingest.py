"""Snapshot ingest (issue 8, point 4): moving `uploads/<task>` into place with its SHA-1 and SHA-256
(issue 20), two ways.

  ranged     what the ingest step does: the upload is read with (ranged) GETs, hashed, and
             written as a new multipart upload — chalicelib.adapters.transfer.transfer over
             chalicelib.adapters.store.ObjectDownload, 8 MiB parts, default max_workers
  part-copy  the alternative: the store copies every 8 MiB range server-side (UploadPartCopy,
             two at a time, on threads) while this process reads the object once to hash it
             (SHA-1 and SHA-256, as the ingest does)

Both run against moto's S3 in its own process (objects kept in memory), each sample in a fresh
child process; the source object is made once and every target is deleted after its sample.
Rounds alternate which kind goes first. Printed last:

  ingest_copy_ratio   part-copy seconds / ranged seconds, same round (median over rounds):
                      below 1 means server-side copying is faster on the emulator

Usage: python bench/ingest.py [--runs N] [--size MIB]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from transfer import (  # noqa: E402  (bench/ is not a package)
    BUCKET,
    MIB,
    PART_SIZE,
    ROOT,
    SAMPLE_TIMEOUT,
    child_env,
    process_cpu_seconds,
    start_moto,
)

SOURCE = "uploads/bench-ingest"


def child(kind: str, target: str) -> None:
    from chalicelib.adapters import aws, store
    s3 = aws.client("s3")
    size = s3.head_object(Bucket=BUCKET, Key=SOURCE)["ContentLength"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    if kind == "ranged":
        from chalicelib.adapters.transfer import transfer
        download = store.ObjectDownload(SOURCE, 0, None)
        try:
            outcome = transfer(download.read_into, s3=s3, bucket=BUCKET, key=target,
                               part_size=PART_SIZE, max_bytes=size)
        finally:
            download.close()
        sha1 = outcome.sha1
    else:
        sha1 = _part_copy(s3, store, target, size)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "sha1": sha1,
                      "cpu_s": usage.ru_utime + usage.ru_stime - cpu_before}))


def _part_copy(s3, store, target: str, size: int) -> str:
    from chalicelib.adapters.file_hashes import FileHashes
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=target)["UploadId"]

    def copy(number: int) -> dict:
        first = (number - 1) * PART_SIZE
        last = min(size, first + PART_SIZE) - 1
        answer = s3.upload_part_copy(Bucket=BUCKET, Key=target, UploadId=upload_id,
                                     PartNumber=number, CopySource={"Bucket": BUCKET,
                                                                    "Key": SOURCE},
                                     CopySourceRange=f"bytes={first}-{last}")
        return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

    with ThreadPoolExecutor(2) as pool:
        parts = pool.map(copy, range(1, -(-size // PART_SIZE) + 1))
        digest, buffer = FileHashes(), bytearray(PART_SIZE)  # both, as the stream does
        download = store.ObjectDownload(SOURCE, 0, None)
        try:
            while count := download.read_into(memoryview(buffer)):
                digest.update(memoryview(buffer)[:count])
        finally:
            download.close()
        parts = list(parts)
    s3.complete_multipart_upload(Bucket=BUCKET, Key=target, UploadId=upload_id,
                                 MultipartUpload={"Parts": parts})
    return digest.digests().sha1


def sample(kind: str, env: dict[str, str], s3, emulator_pid: int, sha1: str) -> dict:
    target = f"images/{kind}/file"
    emulator_before = process_cpu_seconds(emulator_pid)
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", kind, target], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=SAMPLE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{kind} child did not finish within {SAMPLE_TIMEOUT} s") from None
    finally:
        s3.delete_object(Bucket=BUCKET, Key=target)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["emulator_cpu_s"] = process_cpu_seconds(emulator_pid) - emulator_before
    if result["sha1"] != sha1:
        raise SystemExit(f"{kind}: SHA-1 {result['sha1']} != {sha1}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--size", type=int, default=256, help="upload size, MiB (256)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    import hashlib

    import boto3
    moto_env = dict(child_env("http://unused"), MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=str(4 << 30))
    moto, endpoint = start_moto(moto_env)
    env = dict(child_env(endpoint), IMAGE_STORE_BUCKET=BUCKET)
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    size = args.size * MIB
    try:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        body = os.urandom(size)
        s3.put_object(Bucket=BUCKET, Key=SOURCE, Body=body)
        sha1 = hashlib.sha1(body).hexdigest()
        del body
        for kind in ("ranged", "part-copy"):  # warm-up (discarded)
            sample(kind, env, s3, moto.pid, sha1)
        samples: dict[str, list[dict]] = {"ranged": [], "part-copy": []}
        for i in range(args.runs):
            order = list(samples) if i % 2 == 0 else list(samples)[::-1]
            for kind in order:
                r = sample(kind, env, s3, moto.pid, sha1)
                samples[kind].append(r)
                print(f"  {kind:9} {args.size} MiB: {r['seconds']:.2f} s, CPU {r['cpu_s']:.2f} s "
                      f"(emulator {r['emulator_cpu_s']:.2f} s)", flush=True)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
    for kind, results in samples.items():
        print(f"{kind}: median {statistics.median(r['seconds'] for r in results):.2f} s, "
              f"CPU {statistics.median(r['cpu_s'] for r in results):.2f} s, emulator CPU "
              f"{statistics.median(r['emulator_cpu_s'] for r in results):.2f} s")
    ratio = statistics.median(c["seconds"] / r["seconds"]
                              for c, r in zip(samples["part-copy"], samples["ranged"],
                                              strict=True))
    print(f"ingest_copy_ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
