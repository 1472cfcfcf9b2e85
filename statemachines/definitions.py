"""The workflows, described once; the `.asl.json` files next to this module are its output.

    python -m statemachines.definitions          # rewrite {import,update,...}.asl.json
    python -m statemachines.definitions --check  # write nothing; exit 1 if a file differs

The generated files are committed and stay the only thing read at run time: `infra/template.py`
ships them verbatim (`DefinitionSubstitutions` fills the `${step_...}` placeholders) and
`devstack/statemachines.py` runs them in the emulator. tests/domain/test_state_machines.py
checks that they equal what this module writes.

Why here and not in infra/: the files serve the deploy template and the local stack alike, so
their source belongs to neither; next to its output, whoever opens a `.asl.json` (or reviews
its diff) finds the spec in the same directory. The module is pure (plain dicts; it imports
only the vocabulary), so a domain test can import it without the emulator or AWS.

Every machine is a list of states run in order, then the shared Rollback (the Catch target of
every step) and Failed. A state that does not say where to go continues with the next one; the
last of the list ends the execution. To repeat a step while its result says `"done": false`,
put a Choice right after it (its `Default` is filled in like a `Next`); `transfer_task`
builds that pair for the transfer steps, which resume from their checkpoints.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.domain.vocabulary import DELETE, IMPORT, OPERATIONS, SNAPSHOT, UPDATE, UPLOAD

DIRECTORY = Path(__file__).resolve().parent

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
LAMBDA_INVOKE_WAIT = LAMBDA_INVOKE + ".waitForTaskToken"

# Lambda's own faults (throttling, service errors): the step did not run or may run again.
RETRY_LAMBDA = {"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException",
                                "Lambda.SdkClientException", "Lambda.TooManyRequestsException"],
                "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0}
# A step's TransientError (chalicelib.domain.task_results): 5xx, resets, timeouts, throttling.
RETRY_TRANSIENT = {"ErrorEquals": ["TransientError"],
                   "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}
# The rollback must get through: it retries whatever fails, and nothing catches it.
RETRY_ANY = {"ErrorEquals": ["States.ALL"],
             "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0}
CATCH_ROLLBACK = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Rollback"}
# A transfer step resumes from its checkpoint, so a run that died (its process killed, an
# unexpected error) is retried too; never a StepError, the step's own verdict (ASL takes the
# first retrier that matches, and MaxAttempts 0 never retries).
RETRY_NOT_A_STEP_ERROR = {"ErrorEquals": ["StepError"], "MaxAttempts": 0}
RETRY_DIED = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 2,
              "BackoffRate": 2.0}

# Key order of a state in the files (any key not listed follows, in the spec's order).
STATE_KEYS = ("Type", "Resource", "Parameters", "TimeoutSecondsPath", "HeartbeatSecondsPath",
              "Retry", "Catch", "Choices", "ResultSelector", "ResultPath", "Default", "Next", "End",
              "Error", "Cause")
_RANK = {key: i for i, key in enumerate(STATE_KEYS)}


def _invoke(step: str, payload: dict[str, str] | None) -> dict[str, Any]:
    """Invoke the app's Lambda `step` (a handler of chalicelib/steps/handlers.py); every step
    gets the execution's task_id and how often this state was retried (the StepRetries
    metric), plus `payload`."""
    return {"Type": "Task", "Resource": LAMBDA_INVOKE, "Parameters": {
        "FunctionName": f"${{{step}}}", "Payload": {
            "task_id.$": "$.task_id", "retry_count.$": "$$.State.RetryCount",
            **(payload or {})}}}


def lambda_task(step: str, payload: dict[str, str] | None = None, *,
                result: str | None = None) -> dict[str, Any]:
    """A step: retried on Lambda faults and TransientError, rolled back on anything else.

    Its Lambda response's Payload is kept at `result` as {"value": Payload} (read later as
    `<result>.value...`); without `result` it is discarded and the input passes on unchanged.
    """
    state = {**_invoke(step, payload), "Retry": [RETRY_LAMBDA, RETRY_TRANSIENT],
             "Catch": [CATCH_ROLLBACK]}
    if result:
        state["ResultSelector"] = {"value.$": "$.Payload"}
    state["ResultPath"] = result
    return state


def transfer_task(step: str, *, result: str) -> list[tuple[str, dict[str, Any]]]:
    """A transfer step run again, from its checkpoint, until its result says `"done"`: the
    task, then a Choice that loops back while `done` is false."""
    task = lambda_task(step, result=result)
    task["Retry"] = [RETRY_LAMBDA, RETRY_TRANSIENT, RETRY_NOT_A_STEP_ERROR, RETRY_DIED]
    name = "".join(part.capitalize() for part in step.removeprefix("step_").split("_"))
    loop = {"Type": "Choice", "Choices": [
        {"Variable": f"{result}.value.done", "BooleanEquals": False, "Next": name}]}
    return [(name, task), (name + "Done", loop)]


def token_task(step: str, payload: dict[str, str] | None = None, *, result: str,
               timeout_path: str, heartbeat_path: str | None = None) -> dict[str, Any]:
    """A step that hands out the task token and waits until someone sends it back.

    The state's result is the SendTaskSuccess output (there is no Lambda Payload to select),
    kept at `result`. Only Lambda faults are retried: a retry on TransientError would ask
    again with a new token, whereas a failure sent back for the token (or its timeout) rolls
    back. Without `heartbeat_path` only the timeout ends the wait.
    """
    state = {**_invoke(step, {"token.$": "$$.Task.Token", **(payload or {})}),
             "Resource": LAMBDA_INVOKE_WAIT, "TimeoutSecondsPath": timeout_path,
             "Retry": [RETRY_LAMBDA], "Catch": [CATCH_ROLLBACK], "ResultPath": result}
    if heartbeat_path:
        state["HeartbeatSecondsPath"] = heartbeat_path
    return state


def rollback() -> dict[str, Any]:
    """The Catch target of every step: ends the task FAILURE with the caught `$.error`."""
    return {**_invoke("step_rollback", {"error.$": "$.error"}), "Retry": [RETRY_LAMBDA, RETRY_ANY],
            "ResultPath": None, "Next": "Failed"}


FAILED = {"Type": "Fail", "Error": "ImageOperationFailed",
          "Cause": "The operation failed and was rolled back; the task holds the reason."}


def machine(comment: str, *steps: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """The definition running `steps` (name, state) in order, then Rollback and Failed."""
    states = {}
    following_names = [name for name, _ in steps[1:]] + [None]
    for (name, state), following in zip(steps, following_names, strict=True):
        state = dict(state)
        if following is None:
            state.setdefault("End", True)
        elif not {"Next", "End", "Default"} & state.keys():
            state["Default" if state["Type"] == "Choice" else "Next"] = following
        states[name] = state
    states.update(Rollback=rollback(), Failed=FAILED)
    return {"Comment": comment, "StartAt": steps[0][0],
            "States": {name: _ordered(state) for name, state in states.items()}}


def _ordered(state: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(state.items(), key=lambda item: _RANK.get(item[0], len(_RANK))))


MACHINES: dict[str, dict[str, Any]] = {
    IMPORT: machine(
        "Import an image: stream file_url into the store (size, SHA-1 and SHA-256 checked), in "
        "as many runs of the step as it takes, write its manifest (with the file's digests), "
        "mark the image ok.",
        *transfer_task("step_import_file", result="$.import"),
        ("WriteManifest", lambda_task("step_write_manifest", {"file.$": "$.import.value.file"})),
        ("Finish", lambda_task("step_finish", {"transfer.$": "$.import.value",
                                               "file.$": "$.import.value.file"})),
    ),
    UPDATE: machine(
        "Update an image: rewrite its manifest in the store, mark the image ok.",
        ("WriteManifest", lambda_task("step_write_manifest")),
        ("Finish", lambda_task("step_finish")),
    ),
    DELETE: machine(
        "Delete an image: remove its store objects, then its record.",
        ("DeleteObjects", lambda_task("step_delete_objects")),
        ("Finish", lambda_task("step_finish")),
    ),
    SNAPSHOT: machine(
        "Create an image from a VM snapshot: ask the compute node to export it, wait for the "
        "upload (S3 Object Created resumes the execution), move it into place with SHA-1, "
        "SHA-256 and size, write the manifest.",
        ("RequestExport", token_task("step_request_export", result="$.upload",
                                     timeout_path="$.timeouts.export",
                                     heartbeat_path="$.timeouts.heartbeat")),
        *transfer_task("step_ingest_upload", result="$.ingest"),
        ("WriteManifest", lambda_task("step_write_manifest", {"file.$": "$.ingest.value.file"})),
        ("Finish", lambda_task("step_finish", {"transfer.$": "$.ingest.value.transfer",
                                               "file.$": "$.ingest.value.file"})),
    ),
    UPLOAD: machine(
        "Upload an image: wait (until the upload deadline) for the caller to complete the "
        "multipart upload its presigned part URLs fill, verify it (size, SHA-1, SHA-256 against "
        "the manifest, read once in as many runs as it takes) while moving it into place, write "
        "the manifest, mark the image ok.",
        ("AwaitUpload", token_task("step_await_upload", result="$.upload",
                                   timeout_path="$.timeouts.upload")),
        *transfer_task("step_ingest_upload", result="$.ingest"),
        ("WriteManifest", lambda_task("step_write_manifest", {"file.$": "$.ingest.value.file"})),
        ("Finish", lambda_task("step_finish", {"transfer.$": "$.ingest.value.transfer",
                                               "file.$": "$.ingest.value.file"})),
    ),
}
assert set(MACHINES) == set(OPERATIONS), "one machine per operation of the vocabulary"


def asl_file(operation: str) -> Path:
    return DIRECTORY / f"{operation}.asl.json"


def render(operation: str) -> str:
    """The file's text: two-space indent, the spec's key order, a trailing newline."""
    return json.dumps(MACHINES[operation], indent=2) + "\n"


def stale() -> list[str]:
    """The operations whose file is missing or differs from what this module writes."""
    return [op for op in OPERATIONS
            if not asl_file(op).exists() or asl_file(op).read_text() != render(op)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m statemachines.definitions",
                                     description="Write the state machines' .asl.json files.")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a file differs from the spec")
    args = parser.parse_args(argv)
    for op in stale():
        if args.check:
            print(f"statemachines/{op}.asl.json differs from statemachines/definitions.py; "
                  "run: python -m statemachines.definitions", file=sys.stderr)
        else:
            asl_file(op).write_text(render(op))
            print(f"wrote statemachines/{op}.asl.json")
    return 1 if args.check and stale() else 0


if __name__ == "__main__":
    sys.exit(main())
