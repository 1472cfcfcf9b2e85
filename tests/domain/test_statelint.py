"""Every state machine definition passes `statelint` (PyPI), a validator of the Amazon States
Language: state types and their fields, field types, transitions that name existing states,
reachable states, a terminal state, Retry/Catch shapes, reserved error names, paths.

It lints the committed statemachines/*.asl.json (what the template ships and the local stack
runs), run as a user would run it, with no rule switched off."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.domain.vocabulary import OPERATIONS
from statemachines import definitions as spec

STATELINT = Path(sys.executable).with_name("statelint")


def statelint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(STATELINT), *map(str, files)], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("op", OPERATIONS)
def test_every_state_machine_passes_statelint(op):
    result = statelint(spec.asl_file(op))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), result.stdout


def test_statelint_refuses_a_broken_machine(tmp_path):
    """The check can fail: a transition to a state that does not exist, and a Retry whose
    MaxAttempts is not a number, are each reported (exit 1, the field's path named)."""
    machine = json.loads(spec.asl_file(OPERATIONS[0]).read_text())
    first = machine["StartAt"]
    machine["States"][first]["Next"] = "NoSuchState"
    machine["States"][first].pop("End", None)
    retried = next(s for s in machine["States"].values() if s.get("Retry"))
    retried["Retry"][0]["MaxAttempts"] = "three"
    broken = tmp_path / "broken.asl.json"
    broken.write_text(json.dumps(machine))
    result = statelint(broken)
    assert result.returncode == 1
    assert "NoSuchState" in result.stdout
    assert "MaxAttempts" in result.stdout
