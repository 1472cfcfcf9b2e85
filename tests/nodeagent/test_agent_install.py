"""The agent installs with pip as its own package, with its console script, and is never part
of the service's Lambda bundle (tests/integration/test_package.py checks the bundle)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pip_installs_the_agent_with_its_command(tmp_path):
    target = tmp_path / "site"
    source = tmp_path / "source"  # a copy: the build leaves build/ and egg-info behind it
    shutil.copytree(ROOT / "nodeagent", source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    # --no-deps/--no-build-isolation: no index needed (requests and boto3 are in this venv)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "--target",
                    str(target), str(source)], check=True, cwd=tmp_path,
                   capture_output=True, timeout=240)
    installed = sorted(p.name for p in (target / "nodeagent").glob("*.py"))
    assert {"agent.py", "cli.py", "export.py", "__main__.py"} <= set(installed)
    assert not (target / "chalicelib").exists() and not (target / "devstack").exists()
    script = target / "bin" / "imageapi-node-agent"
    assert script.exists()
    env = {**os.environ, "PYTHONPATH": str(target)}  # the installed copy, not the source tree
    answer = subprocess.run([sys.executable, str(script), "--help"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0 and "imageapi-node-agent" in answer.stdout
    answer = subprocess.run([sys.executable, "-m", "nodeagent", "--version"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0 and answer.stdout.strip() == "1.0.0"
    answer = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env={
                                k: v for k, v in env.items() if not k.startswith("IMAGEAPI_")})
    assert answer.returncode == 2
    assert answer.stderr.strip() == ("imageapi-node-agent: api_url is not set (in the config "
                                     "file or IMAGEAPI_AGENT_API_URL)")
