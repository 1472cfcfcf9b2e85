"""AWS's transient faults on demand (devstack/faults.py, `DEVSTACK_FAULTS`), and the app's
answer to them: each service fails with its own error as botocore and Step Functions see it,
the plan is replayable from its seed, and a step that meets AWS still failing after the SDK's
retries asks the state machine for a retry instead of rolling back."""
from __future__ import annotations

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from devstack import faults

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def faulty(stack):
    """`faulty(rate, *services)`: from now until the test ends, the session's emulator fails
    that share of (non-exempt) requests to those services."""
    previous = faults.plan()

    def install(rate: float, *services: str) -> faults.FaultPlan:
        plan = faults.FaultPlan(rate, seed=15, services=frozenset(services or faults.FAULTS))
        plan.armed = True
        faults.use(plan)
        return plan

    yield install
    faults.use(previous)


def error_of(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_each_service_fails_with_its_own_transient_error(server, faulty):
    bucket = server.bucket
    sqs = boto3.client("sqs", config=NO_RETRIES)
    queue = sqs.create_queue(QueueName="faults-probe")["QueueUrl"]  # before the faults
    faulty(1.0)
    ddb = boto3.client("dynamodb", config=NO_RETRIES)
    s3 = boto3.client("s3", config=NO_RETRIES)
    seen = {
        "dynamodb": {error_of(lambda: ddb.get_item(TableName="imageapi-local-tasks",
                                                   Key={"task_id": {"S": f"t{i}"}}))
                     for i in range(40)},
        "s3": {error_of(lambda: s3.get_object(Bucket=bucket, Key=f"k{i}")) for i in range(20)}
        | {error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x"))},
        "sqs": {error_of(lambda: sqs.send_message(QueueUrl=queue, MessageBody="x"))},
        "events": {error_of(lambda: boto3.client("events", config=NO_RETRIES).put_events(
            Entries=[{"Source": "x", "DetailType": "y", "Detail": "{}"}]))},
        "states": {error_of(lambda: boto3.client("stepfunctions", config=NO_RETRIES)
                            .list_state_machines())},
        "lambda": {error_of(lambda: boto3.client("lambda", config=NO_RETRIES).invoke(
            FunctionName="imageapi-local-step_finish", Payload=b"{}")) for _ in range(20)},
    }
    assert seen == {
        "dynamodb": {("ProvisionedThroughputExceededException", 400),
                     ("ThrottlingException", 400), ("InternalServerError", 500)},
        "s3": {("SlowDown", 503), ("InternalError", 500)},
        "sqs": {("InternalFailure", 500)},
        "events": {("InternalException", 500)},
        "states": {("ThrottlingException", 400)},
        "lambda": {("ServiceException", 500), ("TooManyRequestsException", 429)},
    }
    # an exempt client (the stack's own machinery, inspections) is never faulted
    assert faults.exempt(boto3.client("s3", config=NO_RETRIES)).list_objects_v2(
        Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    counters = requests.get(server.emulator_url + faults.COUNTERS_PATH, timeout=10).json()
    assert counters["injected"] == counters["requests"] == 40 + 21 + 1 + 1 + 1 + 20


def test_state_machines_see_lambda_errors_their_retry_matches(server, faulty):
    """A Lambda fault reaches the execution as `Lambda.<code>`, the names RETRY_LAMBDA lists."""
    from statemachines.definitions import RETRY_LAMBDA
    faulty(1.0, "lambda")
    sfn = faults.exempt(boto3.client("stepfunctions"))
    machine = sfn.create_state_machine(
        name="faults-probe", roleArn="arn:aws:iam::123456789012:role/x", definition=(
            '{"StartAt": "T", "States": {"T": {"Type": "Task", "End": true, '
            '"Resource": "arn:aws:states:::lambda:invoke", '
            '"Parameters": {"FunctionName": "imageapi-local-step_finish", "Payload": {}}}}}'))
    try:
        errors = set()
        for i in range(10):
            arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"],
                                      name=f"probe-{i}")["executionArn"]
            from tests.support import wait_for
            ended = wait_for(lambda arn=arn: sfn.describe_execution(executionArn=arn), 30,
                             until=lambda e: e["status"] != "RUNNING")
            errors.add(ended.get("error"))
    finally:
        sfn.delete_state_machine(stateMachineArn=machine["stateMachineArn"])
    assert errors == {"Lambda.ServiceException", "Lambda.TooManyRequestsException"}
    assert errors <= set(RETRY_LAMBDA["ErrorEquals"])


def test_a_step_meeting_aws_faults_after_the_sdk_retries_asks_for_a_retry(server, faulty, admin,
                                                                         repo):
    """PynamoDB gives up after its retries (GetError); the step reports TransientError, which
    the state machines retry, not an error their Catch rolls back, naming AWS's error."""
    from app import app
    from chalicelib.domain.task_results import TransientError
    r = admin.post("/image/faulted", {"manifest_url": repo.publish(repo.manifest(),
                                                                   content=b"image-bytes"),
                                      "dc": "main"})
    assert r.status_code == 201, r.text
    task_id = r.json()["task_id"]
    from tests.support import wait_for
    wait_for(lambda: admin.get(f"/task/{task_id}/status").status_code, 30,
             until=lambda status: status != 201)
    faulty(1.0, "dynamodb")
    with pytest.raises(TransientError) as raised:
        app.handler_map["step_finish"]({"task_id": task_id}, None)
    assert raised.value.message in {f"ERROR: Image store is not available ({fault.code})"
                                    for fault in faults.FAULTS["dynamodb"]}


def test_a_seed_replays_the_same_faults():
    def draws(seed: int) -> list[str | None]:
        plan = faults.FaultPlan(0.3, seed)
        plan.armed = True
        out = []
        for i in range(300):
            fault = plan.decide(("dynamodb", "s3", "lambda")[i % 3], ("GetItem", "PUT")[i % 2])
            out.append(fault and fault.code)
        return out

    assert draws(4) == draws(4)
    assert draws(4) != draws(5)
    assert 0.2 < sum(code is not None for code in draws(4)) / 300 < 0.4


@pytest.fixture
def repo(httpserver):
    from tests.support import Repository
    return Repository(httpserver)
