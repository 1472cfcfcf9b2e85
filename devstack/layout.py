"""Where the local stack keeps its files (one folder, `.devstack/` in the checkout by default).

- `state.json`: the running stack's addresses and settings, for `./imagectl` (removed at stop);
- `admin-key`: the generated key of the SuperAdmin `admin` (mode 0600);
- `data/`: the emulator's saved state (see `devstack.saved_state`).

`DEVSTACK_DIR` moves the folder; `DEVSTACK_STATE` (older) names only the state file, and then
the folder is the one that holds it.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stack_dir() -> Path:
    if os.environ.get("DEVSTACK_DIR"):
        return Path(os.environ["DEVSTACK_DIR"])
    if os.environ.get("DEVSTACK_STATE"):
        return Path(os.environ["DEVSTACK_STATE"]).parent
    return ROOT / ".devstack"


def state_file() -> Path:
    return Path(os.environ.get("DEVSTACK_STATE") or stack_dir() / "state.json")


def admin_key_file() -> Path:
    return stack_dir() / "admin-key"


def data_dir() -> Path:
    return stack_dir() / "data"


def display(path: Path) -> str:
    """A path as a person in the checkout would type it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
