"""The README's upload with `curl` and a few lines of Python (no imagectl) works as shown:
both snippets run, unchanged, against the session's local stack."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.integration.upload_support import PART, manifest_for
from tests.integration.workflow_support import wait_task
from tests.support import Api

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(name: str, language: str) -> str:
    match = re.search(rf"<!-- snippet: {name} -->\s*```{language}\n(.*?)```",
                      README.read_text(), re.DOTALL)
    assert match, f"README has no snippet {name}"
    return match.group(1)


def answers(output: str) -> list[dict]:
    """The JSON answers the two last curls printed, one after the other."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output.strip()):
        value, at = decoder.raw_decode(output, at)
        found.append(value)
        while at < len(output) and output[at].isspace():
            at += 1
    return found


def test_the_readme_upload_with_curl_and_python(server, tmp_path):
    content = os.urandom(PART) * 2 + b"tail"   # two 8 MiB parts (the last one short)
    image, manifest = tmp_path / "disk.img", manifest_for(content)
    image.write_bytes(content)
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    (tmp_path / "put_parts.py").write_text(snippet("upload-parts", "python"))
    env = {**os.environ, "API": server.api_url, "ES_API_KEY": server.admin_key,
           "NAME": "readme-up", "FILE": str(image), "MANIFEST": str(tmp_path / "m.json")}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", snippet("upload-curl", "bash")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    completed, status = answers(run.stdout)
    assert completed["status"] == "PENDING"
    assert status["task_id"] == completed["task_id"]
    admin = Api(server.api_url, server.admin_key)
    assert status["status"] in ("PENDING", "SUCCESS")  # the verification may be done already
    assert wait_task(admin, status["task_id"]).status_code == 200
    image_record = admin.get("/image/readme-up").json()["result"]
    assert (image_record["status"], image_record["uuid"]) == (1, manifest["uuid"])
