"""AWS's limits in the local stack (README "AWS's limits"), each hit through the stack with the
exact answer AWS gives, and the app's clear 4xx where an answer of its own would not fit.

The gateway's own answers are shown on a minimal Chalice app served by the local gateway (a
route that answers 7 MB, one that waits for the test's event): the app under test never
answers like that, which is the point. `DEVSTACK_AWS_LIMITS=off` (set before the stack
starts) shows every emulator and gateway test here failing without the enforcement.
"""
from __future__ import annotations

import json
import math
import threading
import uuid as uuidlib
from datetime import UTC, datetime

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from chalice import Chalice

from chalicelib.domain import field_texts, http_texts
from chalicelib.domain import limits as app_limits
from devstack import limits
from tests.support import wait_for

MIB = 1024 * 1024


# --- the local gateway ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_gateway():
    """The local gateway serving a two-route Chalice app; `release` lets the slow route end."""
    from devstack.gateway import ApiServer
    app = Chalice(app_name="limits-toy")
    release, finished = threading.Event(), threading.Event()

    @app.route("/big")
    def big() -> dict:
        return {"blob": "x" * (limits.LAMBDA_SYNC_PAYLOAD_BYTES + 1)}

    @app.route("/fits")
    def fits() -> dict:
        return {"blob": "x" * (limits.LAMBDA_SYNC_PAYLOAD_BYTES - 4096)}

    @app.route("/slow")
    def slow() -> dict:
        release.wait(60)
        finished.set()
        return {"late": True}

    server = ApiServer(app, "127.0.0.1", 0)
    server.start()
    yield server.url, release, finished
    release.set()
    server.stop()


def test_a_lambda_response_over_6_mb_is_api_gateways_502(toy_gateway):
    url, _, _ = toy_gateway
    r = requests.get(f"{url}/big", timeout=30)
    assert (r.status_code, r.json()) == (502, {"detail": "Internal server error"})
    assert requests.get(f"{url}/fits", timeout=30).status_code == 200


def test_past_the_integration_timeout_the_gateway_answers_504_and_the_function_runs_on(
        toy_gateway, monkeypatch):
    url, release, finished = toy_gateway
    monkeypatch.setenv("DEVSTACK_INTEGRATION_TIMEOUT_SECONDS", "0.5")
    r = requests.get(f"{url}/slow", timeout=30)
    assert (r.status_code, r.json()) == (504, {"detail": "Endpoint request timed out"})
    assert not finished.is_set()  # still held by the test: the gateway did not wait for it
    release.set()
    assert finished.wait(15)      # and it ran on to its end, as a Lambda function would


def test_a_request_body_over_10_mb_is_413(stack):
    r = requests.post(f"{stack.api_url}/image/big/",
                      data=b"x" * (limits.API_GATEWAY_PAYLOAD_BYTES + 1),
                      headers={"ES-API-KEY": stack.admin_key}, timeout=60)
    assert (r.status_code, r.json()) == (413, {"detail": "Request Too Long"})


def test_a_request_body_over_lambdas_6_mb_is_413(stack):
    r = requests.post(f"{stack.api_url}/image/big/",
                      data=b"x" * (limits.LAMBDA_SYNC_PAYLOAD_BYTES + 1),
                      headers={"ES-API-KEY": stack.admin_key}, timeout=60)
    assert (r.status_code, r.json()) == (413, {"detail": "Request Too Long"})


# --- the emulator ---------------------------------------------------------------------------

def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_a_transaction_over_4_mb_is_refused(clean):
    from chalicelib.persistence.models import Image
    table = Image.Meta.table_name
    blob = "x" * (390 * 1024)  # items under 400 KB each, eleven of them over 4 MB together
    items = [{"Put": {"TableName": table, "Item": {"name": {"S": f"tx-{n}"}, "blob": {"S": blob}}}}
             for n in range(11)]
    with pytest.raises(ClientError) as exc:
        boto3.client("dynamodb").transact_write_items(TransactItems=items)
    assert _error(exc) == ("ValidationException", "Transaction request cannot be larger than 4 MB")
    assert not list(Image.scan())
    boto3.client("dynamodb").transact_write_items(TransactItems=items[:10])  # 3.8 MB: fits


def test_a_batch_write_of_more_than_25_items_is_refused(clean):
    from chalicelib.persistence.models import Image
    table = Image.Meta.table_name
    puts = [{"PutRequest": {"Item": {"name": {"S": f"b-{n}"}}}} for n in range(26)]
    with pytest.raises(ClientError) as exc:
        boto3.client("dynamodb").batch_write_item(RequestItems={table: puts})
    assert _error(exc) == ("ValidationException",
                           "Too many items requested for the BatchWriteItem call")
    boto3.client("dynamodb").batch_write_item(RequestItems={table: puts[:25]})


def test_put_events_over_1_mb_is_refused(stack):
    entry = {"Source": "limits.test", "DetailType": "big", "EventBusName": "default",
             "Detail": json.dumps({"blob": "x" * (limits.EVENTBRIDGE_ENTRIES_BYTES // 2)})}
    with pytest.raises(ClientError) as exc:
        boto3.client("events").put_events(Entries=[entry, entry])
    assert _error(exc) == ("ValidationException",
                           "Total size of the entries in the request is over the limit.")
    assert boto3.client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0


def test_a_state_output_over_256_kib_fails_the_execution_with_data_limit_exceeded(stack):
    sfn = boto3.client("stepfunctions")
    definition = {"StartAt": "Big", "States": {"Big": {
        "Type": "Pass", "Result": {"blob": "x" * limits.STATE_PAYLOAD_BYTES}, "End": True}}}
    machine = sfn.create_state_machine(
        name=f"limits-{uuidlib.uuid4().hex[:8]}", definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/limits")["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    ended = wait_for(lambda: sfn.describe_execution(executionArn=arn),
                     until=lambda e: e["status"] != "RUNNING")
    assert (ended["status"], ended.get("error")) == ("FAILED", "States.DataLimitExceeded")


# --- the app at the limits ------------------------------------------------------------------

def _seed_large_images(count: int) -> None:
    """Images with every field at its longest, written straight into the table."""
    from chalicelib.persistence.models import Image
    tags = [f"t{n:02d}" + "x" * 97 for n in range(50)]
    now = datetime.now(UTC)
    with Image.batch_write() as batch:
        for n in range(count):
            batch.save(Image(f"big-{n:05d}", uuid=str(uuidlib.uuid4()), alias=f"big-{n:05d}",
                             version="1.0", owner="admin", desc="d" * 128, tags=tags,
                             created=now, dcs=["main"]))


def test_a_full_list_over_lambdas_response_limit_is_a_clear_400_not_a_502(admin):
    _seed_large_images(1)
    one = admin.get("/image/big-00000/").json()["result"]
    # the smallest catalogue whose full list no longer fits (each image costs its escaped
    # JSON and a separator inside the response's body string)
    per_image = len(json.dumps(json.dumps(one))) - 2 + 2
    count = math.ceil(app_limits.MAX_RESPONSE_BYTES / per_image) + 1
    _seed_large_images(count)

    r = admin.get("/image/", params={"full": "true"}, headers={"Accept-Encoding": "identity"})
    assert (r.status_code, r.json()) == (400, {"detail": http_texts.RESPONSE_TOO_LARGE})
    # gzip'd (what `requests`, so `es`, asks for) the same list fits (api/compression.py)
    gzipped = admin.get("/image/", params={"full": "true"})
    assert gzipped.status_code == 200 and gzipped.headers["Content-Encoding"] == "gzip"
    assert len(gzipped.json()["result"]) == count
    page = admin.get("/image/", params={"full": "true", "limit": "500"})
    assert page.status_code == 200 and len(page.json()["result"]) == 500
    assert page.headers["es_next"]
    # the names alone still fit: only what would not fit is refused
    assert len(admin.get("/image/").json()["result"]) == count


@pytest.mark.parametrize("field, value", [
    ("homepage", "m" * (limits.DYNAMODB_ITEM_BYTES + 1)),
    ("requirements", {"networks": [{"name": "n" * 100}] * 4000}),
])
def test_a_manifest_too_large_for_an_image_record_is_a_clear_400(admin, files, settings_override,
                                                                 field, value):
    """(A long `description` is no such case: only its first 128 characters are kept.)"""
    settings_override(MANIFEST_MAX_BYTES=str(2 * MIB))  # an operator allowed large manifests
    manifest = files.manifest(**{field: value})
    r = admin.post("/image/huge", {"manifest_url": files.publish(manifest), "dc": "main"})
    assert r.status_code == 400, r.text
    assert r.json()["result"] == {"manifest_url": [field_texts.manifest_too_large(
        app_limits.MAX_STORED_MANIFEST_BYTES)]}
    assert admin.get("/image/huge/").status_code == 404
