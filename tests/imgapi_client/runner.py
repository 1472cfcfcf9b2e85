"""Joyent's IMGAPI client (sdc-clients) and manifest validator (imgmanifest), run from pytest.

The pinned npm packages (package-lock.json here) are installed once per lock file into a
cache (`$XDG_CACHE_HOME/imageapi/npm-<lock digest>`, else `~/.cache/...`), like the other
tools the tests need; `node` and `npm` must be on the machine (a test fails, never skips,
without them). `run(url, command, ...)` runs client.js and returns its JSON answer.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "client.js"


def _cache_dir() -> Path:
    digest = hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "imageapi" / f"npm-{digest}"


def node_modules() -> Path:
    """The installed packages (installed now when missing)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"`{tool}` is needed for the IMGAPI client tests: install "
                               "Node.js (18 or later)")
    target = _cache_dir()
    modules = target / "node_modules"
    if (target / "installed").exists():
        return modules
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(HERE / name, partial / name)
    # --ignore-scripts: the packages' optional native add-ons (dtrace) are not needed
    subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--quiet"],
                   cwd=partial, check=True, timeout=600, capture_output=True)
    (partial / "installed").write_text("ok\n")
    try:
        partial.rename(target)  # atomic: a parallel session either sees all of it or none
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)  # another session installed it first
    return modules


def run(url: str, command: str, *arguments: str, timeout: float = 300) -> Any:
    env = {**os.environ, "NODE_PATH": str(node_modules())}
    done = subprocess.run(["node", str(SCRIPT), url, command, *arguments], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
