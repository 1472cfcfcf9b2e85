"""IAM in the local stack (README "IAM and presigned URLs in the local stack"): each function
is held to its policy from the deploy template and meets the service's own AccessDenied.

`DEVSTACK_IAM=off` switches enforcement off: then every test here fails.
"""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.iam import policies
from devstack.iam.acting import acting_as
from infra import grants
from tests.integration.workflow_support import start_import, wait_task
from tests.support import Api

CONTENT = bytes(range(256)) * 4096   # 1 MiB


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_import_fails_with_access_denied_without_its_put_grant_and_passes_with_it(
        server, files, monkeypatch):
    """infra/grants.py without s3:PutObject for the import step (the file on disk unchanged:
    the running stack's policies are rebuilt from the changed table), then with it back."""
    admin = Api(server.api_url, server.admin_key)
    grant = grants.GRANTS["StepImportFile"]
    images = tuple(a for a in grant.objects[grants.IMAGES] if a != grants.S3_PUT)
    monkeypatch.setitem(grants.GRANTS, "StepImportFile", dataclasses.replace(
        grant, objects={**grant.objects, grants.IMAGES: images}))
    policies.current().reload()
    try:
        task_id, _ = start_import(admin, files, "img1", CONTENT)
        result = wait_task(admin, task_id).json()
        assert result["status"] == "FAILURE", result
        assert "AccessDenied" in result["result"]["message"], result
    finally:
        monkeypatch.undo()
        policies.current().reload()

    task_id, _ = start_import(admin, files, "img1", CONTENT)
    result = wait_task(admin, task_id).json()
    assert result["status"] == "SUCCESS", result


def test_each_service_denies_in_its_own_shape(server):
    """OnPlatformEvent may update four read models and nothing else."""
    with acting_as("OnPlatformEvent"):
        with pytest.raises(ClientError) as denied:
            boto3.client("dynamodb").get_item(TableName=_table("images"),
                                              Key={"name": {"S": "x"}})
        assert _code(denied) == "AccessDeniedException"
        assert "dynamodb:GetItem" in str(denied.value)
        with pytest.raises(ClientError) as denied:
            boto3.client("s3").get_object(Bucket=server.bucket, Key="images/x/file")
        assert _code(denied) == "AccessDenied"
        assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with pytest.raises(ClientError) as denied:
            boto3.client("stepfunctions").list_executions(
                stateMachineArn=next(iter(server.stack.machine_arns().values())))
        assert _code(denied) == "AccessDeniedException"
        with pytest.raises(ClientError) as denied:
            boto3.client("sqs").get_queue_url(QueueName="anything")
        assert _code(denied) == "AccessDenied"


def test_events_only_with_the_granted_source_and_detail_type(server):
    """StepFinish may put "Task Ended" from imageapi.tasks on the default bus, nothing else."""
    events = boto3.client("events")
    entry = {"Source": "imageapi.tasks", "DetailType": "Task Ended", "Detail": "{}"}
    with acting_as("StepFinish"):
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
        with pytest.raises(ClientError) as denied:
            events.put_events(Entries=[{**entry, "Source": "aws.states"}])
        assert _code(denied) == "AccessDeniedException"


def test_threads_started_by_a_function_act_as_it(server):
    """A pool's task runs as whoever submitted it, never as the stack's unrestricted key."""
    with acting_as("OnPlatformEvent"), ThreadPoolExecutor(2) as pool:
        future = pool.submit(boto3.client("s3").list_objects_v2, Bucket=server.bucket)
        with pytest.raises(ClientError) as denied:
            future.result()
    assert _code(denied) == "AccessDenied"


def test_missing_object_is_403_for_who_may_not_list(server):
    """S3: without s3:ListBucket a missing key is 403, with it 404 (store.object_size)."""
    with acting_as("StepImportFile"), pytest.raises(ClientError) as denied:
        boto3.client("s3").head_object(Bucket=server.bucket, Key="images/none/file")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with acting_as("StepWriteManifest"), pytest.raises(ClientError) as missing:
        boto3.client("s3").head_object(Bucket=server.bucket, Key="images/none/file")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_state_machines_invoke_only_what_their_role_allows(server, files, monkeypatch):
    """The role's lambda:InvokeFunction is checked: without the import step the execution
    fails at its first task and the task ends FAILURE (rollback is still invokable)."""
    from infra import template
    original = template.state_machine_role

    def role_without_import(steps: list[str]) -> dict:
        return original([step for step in steps if step != "StepImportFile"])

    monkeypatch.setattr(template, "state_machine_role", role_without_import)
    policies.current().reload()
    admin = Api(server.api_url, server.admin_key)
    try:
        task_id, _ = start_import(admin, files, "img1", CONTENT)
        assert wait_task(admin, task_id).json()["status"] == "FAILURE"
    finally:
        monkeypatch.undo()
        policies.current().reload()


def _table(short: str) -> str:
    from chalicelib.persistence.models import Image
    return Image.Meta.table_name.rpartition("-")[0] + "-" + short
