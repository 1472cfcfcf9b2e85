"""The committed statemachines/*.asl.json are what statemachines/definitions.py writes, and
every machine keeps the workflow rules: each Lambda step retries Lambda faults and
TransientError and rolls back on anything else, the rollback retries and is never caught, no
Lambda result is selected only to be thrown away, and the steps are the app's step handlers.

The checks read the committed files (what the deploy template and the local stack load).
"""
from __future__ import annotations

import json
import re

import pytest
from chalice import Chalice

from chalicelib.domain.vocabulary import OPERATIONS
from chalicelib.steps import handlers
from statemachines import definitions as spec

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def committed(op: str) -> str:
    return spec.asl_file(op).read_text()


def states(op: str) -> dict[str, dict]:
    return json.loads(committed(op))["States"]


def lambda_tasks():
    for op in OPERATIONS:
        for name, state in states(op).items():
            if state["Type"] == "Task" and state["Resource"].startswith(spec.LAMBDA_INVOKE):
                yield op, name, state


@pytest.mark.parametrize("op", OPERATIONS)
def test_committed_files_are_the_generated_ones(op):
    assert committed(op) == spec.render(op), (
        f"statemachines/{op}.asl.json differs from statemachines/definitions.py: change the "
        "spec, not the file, then run: python -m statemachines.definitions")


def test_check_mode_fails_on_a_hand_edited_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(spec, "DIRECTORY", tmp_path)
    assert spec.main([]) == 0 and spec.main(["--check"]) == 0
    edited = tmp_path / "update.asl.json"
    edited.write_text(edited.read_text().replace('"MaxAttempts": 3', '"MaxAttempts": 5', 1))
    assert spec.main(["--check"]) == 1
    assert "update.asl.json differs" in capsys.readouterr().err
    assert spec.main([]) == 0 and spec.main(["--check"]) == 0


def test_every_step_retries_and_rolls_back():
    checked = 0
    for op, name, state in lambda_tasks():
        retry, catch = state["Retry"], state.get("Catch")
        where = f"{op}.{name}"
        if name == "Rollback":
            assert retry == [spec.RETRY_LAMBDA, spec.RETRY_ANY], where
            assert catch is None and state["Next"] == "Failed", where
            assert state["Parameters"]["FunctionName"] == "${step_rollback}", where
            continue
        assert catch == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                          "Next": "Rollback"}], where
        if state["Resource"] == spec.LAMBDA_INVOKE_WAIT:
            # a TransientError would re-send the token request; the node's failure rolls back
            assert retry == [spec.RETRY_LAMBDA], where
        elif name in ("ImportFile", "IngestUpload"):
            # transfers resume from their checkpoint: a died run is retried, a StepError not
            assert retry == [spec.RETRY_LAMBDA, spec.RETRY_TRANSIENT,
                             spec.RETRY_NOT_A_STEP_ERROR, spec.RETRY_DIED], where
            assert states(op)[name + "Done"]["Choices"][0]["Next"] == name, where  # the loop
        else:
            assert retry == [spec.RETRY_LAMBDA, spec.RETRY_TRANSIENT], where
        checked += 1
    assert checked == 15  # import 3, update 2, delete 2, snapshot 4, upload 4


@pytest.mark.parametrize("op", OPERATIONS)
def test_rollback_and_failed_are_shared(op):
    machine = states(op)
    assert machine["Rollback"] == spec.rollback()
    assert machine["Failed"] == spec.FAILED


@pytest.mark.parametrize("op", OPERATIONS)
def test_no_result_is_selected_to_be_discarded(op):
    for name, state in states(op).items():
        if "ResultSelector" in state:
            assert state.get("ResultPath", "$") is not None, f"{op}.{name}"


@pytest.mark.parametrize("op", OPERATIONS)
def test_every_state_is_reachable_and_every_transition_names_a_state(op):
    definition = json.loads(committed(op))
    machine = definition["States"]
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        assert name in machine, f"{op}: no state {name}"
        if name not in seen:
            seen.add(name)
            state = machine[name]
            todo += [t for t in (state.get("Next"), state.get("Default")) if t]
            todo += [rule["Next"] for rule in state.get("Catch", []) + state.get("Choices", [])]
    assert seen == set(machine)


def test_placeholders_are_the_registered_step_handlers():
    app = Chalice("probe")
    app.register_blueprint(handlers.bp)
    registered = {f.name for f in app.pure_lambda_functions if f.name.startswith("step_")}
    used = {name for op in OPERATIONS for name in PLACEHOLDER.findall(committed(op))}
    assert used == registered


CHALICE_DEFAULT_TIMEOUT = 60  # seconds, when .chalice/config.json names none


@pytest.mark.parametrize("op", OPERATIONS)
def test_a_rollback_outwaits_any_store_write_lease(op):
    """services/tasks/store_writes.py: a lease outlives the step holding it, a cancel's wait
    fits in API Gateway's 29 s, and the Rollback state's runs wait longer than a lease lives."""
    from pathlib import Path

    from chalicelib.services.tasks import store_writes
    config = json.loads((Path(__file__).parents[2] / ".chalice" / "config.json").read_text())
    timeout = config.get("lambda_functions", {}).get("step_write_manifest", {}).get(
        "lambda_timeout", config.get("lambda_timeout", CHALICE_DEFAULT_TIMEOUT))
    assert timeout < store_writes.LEASE_SECONDS
    assert store_writes.WAIT_SECONDS < 29
    retry = next(r for r in states(op)["Rollback"]["Retry"] if "States.ALL" in r["ErrorEquals"])
    pauses = sum(retry["IntervalSeconds"] * retry.get("BackoffRate", 2.0) ** attempt
                 for attempt in range(retry["MaxAttempts"]))
    assert (retry["MaxAttempts"] + 1) * store_writes.WAIT_SECONDS + pauses \
        > store_writes.LEASE_SECONDS
