"""The console's own logic, run by Node as the browser runs it (native ES modules, no build):
the incremental SHA-1 the upload builds a manifest with, the rate and ETA of a task's
progress, and the part size of an upload. Node is on the machine already (the IMGAPI client
tests need it); the page itself is tested in a real browser elsewhere."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

JS = Path(__file__).resolve().parents[2] / "chalicelib" / "console" / "js"


def run(script: str) -> object:
    node = shutil.which("node")
    assert node, "node is missing: install Node.js (the IMGAPI client tests need it too)"
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True,
                          text=True, timeout=60, cwd=JS)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_incremental_sha1_is_sha1_in_any_chunks():
    sizes = [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 70000]
    digests = run(f"""
        import {{ Sha1 }} from "{JS}/sha1.js";
        const out = [];
        for (const n of {sizes}) {{
          const bytes = new Uint8Array(n).map((_, i) => (i * 31 + 7) & 255);
          const h = new Sha1();
          for (let at = 0, step = 1; at < n; at += step, step = 1 + (at % 97)) {{
            h.update(bytes.subarray(at, at + step));
          }}
          out.push(h.hex());
        }}
        console.log(JSON.stringify(out));
    """)
    expected = [hashlib.sha1(bytes((i * 31 + 7) & 255 for i in range(n))).hexdigest()
                for n in sizes]
    assert digests == expected


def test_rate_and_eta_come_from_successive_readings():
    """An injected clock: 10 MiB/s over the readings, 50 MiB left → 5 s; a restart (fewer
    bytes than before) starts the measurement again; one reading gives no rate."""
    got = run(f"""
        import {{ RateMeter }} from "{JS}/progress.js";
        let now = 0;
        const meter = new RateMeter(() => now);
        const MiB = 1 << 20;
        const first = meter.rate();
        meter.add(0);
        const one = meter.rate();
        now = 2000; meter.add(20 * MiB);
        now = 5000; meter.add(50 * MiB);
        const rate = meter.rate(), eta = meter.eta(100 * MiB);
        now = 6000; meter.add(1 * MiB);
        const restarted = meter.rate();
        console.log(JSON.stringify({{ first, one, rate: rate / MiB, eta, restarted }}));
    """)
    assert got == {"first": None, "one": None, "rate": 10, "eta": 5, "restarted": None}


def test_parts_are_8_mib_until_a_file_needs_more_than_10000():
    got = run(f"""
        import {{ partSize }} from "{JS}/upload.js";
        const MiB = 1 << 20;
        console.log(JSON.stringify([partSize(1), partSize(80000 * MiB), partSize(80001 * MiB),
                                    partSize(5 * 1024 * 1024 * MiB)]));
    """)
    mib = 1 << 20
    assert got[:2] == [8 * mib, 8 * mib]
    assert got[2] == 9 * mib and got[3] % mib == 0 and (5 << 40) / got[3] <= 10000
