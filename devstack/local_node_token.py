"""The local stack's compute-node token, so `imgadm` (and the node agent) have one to present.

`NODE_TOKEN` (or `NODE_TOKEN_PARAMETER`) when given; else the token kept in
`.devstack/node-token` (mode 0600) since the first `make run`; else a new one, stored there.
It is put into the environment before the stack starts: the app, the local edge and the
local node agent all read `NODE_TOKEN`. Never printed: the banner names the file.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from devstack import layout


def token_file() -> Path:
    return layout.stack_dir() / "node-token"


def ensure() -> str:
    """Where the token comes from: "given", "stored" or "generated"."""
    if os.environ.get("NODE_TOKEN", "").strip() or os.environ.get("NODE_TOKEN_PARAMETER"):
        return "given"
    path = token_file()
    if path.exists() and path.read_text().strip():
        os.environ["NODE_TOKEN"] = path.read_text().strip()
        return "stored"
    token = secrets.token_urlsafe(30)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    os.environ["NODE_TOKEN"] = token
    return "generated"
