"""Upload (issue 19): `imagectl image upload`'s part sender against boto3's `upload_file` of the
same file into the same store, and the verification's CPU against plain hashing.

  client     cli.upload.Sender: 8 MiB parts read from the file as they go, each part's CRC32
             signed into its presigned UploadPart URL (as the API hands them out; the upload
             opened with ChecksumAlgorithm CRC32), 4 PUTs in flight, then the completion
  boto3      boto3's `upload_file` (its defaults: 8 MiB parts, 10 threads)
  verify     what the upload's ingest step does with the completed object: ranged GETs,
             SHA-1, a new multipart upload (chalicelib.adapters.transfer over
             chalicelib.adapters.store.ObjectDownload)

Each sample runs in a fresh child process against moto's S3 in its own process; rounds
alternate which upload goes first. Printed last:

  upload_ratio      boto3 seconds / client seconds, same round (median): the client's
                    throughput as a share of boto3's                       target >= 0.85
  verify_cpu_ratio  verify CPU s per GiB / hashlib SHA-1 + SHA-256 CPU s per GiB (this
                    process, same run)                                     target <= 1.5

Usage: python bench/upload.py [--runs N] [--size MIB]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
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

UPLOADED = "uploads/bench-upload"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _PresigningApi:
    """The API's part of the protocol, done here with the same presigned URLs the service
    makes (store.presign_part's parameters), so only the client's PUTs are measured."""

    def __init__(self, s3, key: str, upload_id: str) -> None:
        self.s3, self.key, self.upload_id = s3, key, upload_id

    def call(self, method: str, path: str, body=None):
        crc32 = body.get("crc32", {})
        return 200, {"parts": {str(n): self.s3.generate_presigned_url(
            "upload_part", ExpiresIn=900, Params={
                "Bucket": BUCKET, "Key": self.key, "UploadId": self.upload_id,
                "PartNumber": n, **({"ChecksumCRC32": crc32[str(n)]} if str(n) in crc32
                                    else {})}) for n in body["parts"]}}


def child(kind: str, path: str, key: str) -> None:
    import io

    from chalicelib.adapters import store
    from chalicelib.adapters.multipart import MultipartUpload
    from chalicelib.adapters.transfer import transfer
    from cli import upload
    s3 = store.s3()  # imports and the client before the clock: per-GiB figures, no fixed cost
    size = os.path.getsize(path)
    cpu, started = _cpu(), time.perf_counter()
    sha1 = None
    if kind == "client":
        upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key,
                                               ChecksumAlgorithm=store.PART_CHECKSUM)["UploadId"]
        part_size = upload.part_size_for(size)
        progress = upload.Progress(size, io.StringIO())
        upload.Sender(_PresigningApi(s3, key, upload_id), "bench", Path(path), size,
                      part_size, progress).send(
            list(range(1, upload.part_count(size, part_size) + 1)))
        MultipartUpload(s3, BUCKET, key, part_size, upload_id=upload_id,
                        max_workers=1).complete()
    elif kind == "boto3":
        s3.upload_file(path, BUCKET, key)
    else:  # verify: the ingest's read, hash and move into place
        download = store.ObjectDownload(UPLOADED, 0, None)
        try:
            outcome = transfer(download.read_into, s3=s3, bucket=BUCKET, key=key,
                               part_size=PART_SIZE, max_bytes=size)
        finally:
            download.close()
        sha1 = outcome.sha1
    print(json.dumps({"seconds": time.perf_counter() - started, "cpu_s": _cpu() - cpu,
                      "sha1": sha1}))


def sample(kind: str, path: str, key: str, env: dict[str, str], moto_pid: int) -> dict:
    emulator_before = process_cpu_seconds(moto_pid)
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", kind, path, key],
                              cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=SAMPLE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{kind} child did not finish within {SAMPLE_TIMEOUT} s") from None
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["emulator_cpu_s"] = process_cpu_seconds(moto_pid) - emulator_before
    return dict(result)


def hash_floor_cpu_per_gib(path: str) -> float:
    """hashlib SHA-1 and SHA-256 over the file (the floor of any verification that computes
    both), per GiB, in this process."""
    size, cpu = os.path.getsize(path), _cpu()
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(8 * MIB):
            sha1.update(chunk)
            sha256.update(chunk)
    return (_cpu() - cpu) * (1 << 30) / size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--size", type=int, default=256, help="file size, MiB (256)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    import boto3
    moto_env = dict(child_env("http://unused"), MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=str(4 << 30))
    moto, endpoint = start_moto(moto_env)
    env = dict(child_env(endpoint), IMAGE_STORE_BUCKET=BUCKET)
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    size = args.size * MIB
    samples: dict[str, list[dict]] = {"client": [], "boto3": [], "verify": []}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "image.raw")
        with open(path, "wb") as file:
            block = os.urandom(MIB)
            for _ in range(args.size):
                file.write(block)
        with open(path, "rb") as file:
            expected = hashlib.file_digest(file, "sha1").hexdigest()
        try:
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            s3.upload_file(path, BUCKET, UPLOADED)
            for kind in ("client", "boto3", "verify"):  # warm-up (discarded)
                sample(kind, path, f"warm/{kind}", env, moto.pid)
                s3.delete_object(Bucket=BUCKET, Key=f"warm/{kind}")
            for i in range(args.runs):
                order = ["client", "boto3"] if i % 2 == 0 else ["boto3", "client"]
                for kind in [*order, "verify"]:
                    key = f"images/{kind}/file"
                    result = sample(kind, path, key, env, moto.pid)
                    if kind == "verify" and result["sha1"] != expected:
                        raise SystemExit(f"verify: SHA-1 {result['sha1']} != {expected}")
                    stored = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
                    if stored != size:
                        raise SystemExit(f"{kind}: stored {stored} bytes, not {size}")
                    s3.delete_object(Bucket=BUCKET, Key=key)
                    samples[kind].append(result)
                    print(f"  {kind:6} {args.size} MiB: {result['seconds']:.2f} s, CPU "
                          f"{result['cpu_s']:.2f} s (emulator {result['emulator_cpu_s']:.2f} s)",
                          flush=True)
        finally:
            moto.terminate()
            moto.wait(timeout=30)
        floor = hash_floor_cpu_per_gib(path)
    for kind, results in samples.items():
        seconds = statistics.median(r["seconds"] for r in results)
        print(f"{kind}: median {seconds:.2f} s ({args.size / seconds:.0f} MiB/s), CPU "
              f"{statistics.median(r['cpu_s'] for r in results):.2f} s")
    ratio = statistics.median(b["seconds"] / c["seconds"]
                              for b, c in zip(samples["boto3"], samples["client"], strict=True))
    verify_per_gib = statistics.median(r["cpu_s"] for r in samples["verify"]) * (1 << 30) / size
    print(f"hash floor (SHA-1 + SHA-256): {floor:.2f} CPU s/GiB; verify: "
          f"{verify_per_gib:.2f} CPU s/GiB")
    print(f"upload_ratio: {ratio:.2f}")
    print(f"verify_cpu_ratio: {verify_per_gib / floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
