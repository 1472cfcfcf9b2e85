"""The local stack's emulator keeps AWS's concurrency contract (devstack/emulator_contract.py).

Raw boto3 against the running test stack's emulator, on tables, buckets, queues and state
machines of these tests' own (unique names), so the app's data is never touched. botocore
retries nothing here: a 500 from the emulator is seen, not retried away. Racers are released
by a barrier (racing.race); every test runs bounded rounds and asserts outcomes only.
The tables, the queue and the state machine hold some data already (moto's races widen with
what a table or queue holds), as the app's do in use.

With `DEVSTACK_EMULATOR_CONTRACT=off` (moto alone) the DynamoDB, S3 and SQS tests fail. The
Step Functions test does not show it reliably: moto's window between the name check and the
new execution is well under a millisecond, and the StopExecution patch stays installed with
the contract off.
"""
from __future__ import annotations

import json
import threading
import uuid
from collections import Counter

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.racing import race

RACERS = 8
ROUNDS = 5
NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1})


def client(service: str):
    return boto3.client(service, config=NO_RETRIES)


def unique(prefix: str) -> str:
    return f"contract-{prefix}-{uuid.uuid4().hex[:10]}"


def outcome(call) -> tuple[int, str]:
    """(HTTP status, error code or "") of a call; any error other than a ClientError fails."""
    try:
        call()
        return 200, ""
    except ClientError as exc:
        meta = exc.response.get("ResponseMetadata", {})
        return meta.get("HTTPStatusCode", 0), exc.response.get("Error", {}).get("Code", "")


def no_server_errors(outcomes: list[tuple[int, str]]) -> None:
    assert not [o for o in outcomes if o[0] >= 500], outcomes


# --- DynamoDB ----------------------------------------------------------------------------------

SEED = 300  # items already in the table, as in a table in use (moto copies a table per transaction)


@pytest.fixture
def table(stack):
    """A table of our own (pk, sk), holding SEED items in partition `seed`."""
    ddb = client("dynamodb")
    name = unique("table")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}])
    seed(name, SEED, "x" * 200)
    yield name
    ddb.delete_table(TableName=name)


def seed(table: str, count: int, value: str, first: int = 0) -> None:
    ddb = client("dynamodb")
    for start in range(first, first + count, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": "seed"}, "sk": {"S": f"{k:05d}"},
                                     "v": {"S": value}}}}
            for k in range(start, min(start + 25, first + count))]})


def key(pk: str, sk: str = "-") -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_racing_conditional_transactions_have_exactly_one_winner(table):
    """Each racer puts the round's item under `attribute_not_exists`, bumps a shared counter
    and writes its own marker, all in one transaction: one winner per round, the item is the
    winner's, the counter counts rounds, and no loser's marker exists (a loser's transaction
    is cancelled whole and undoes nobody else's)."""
    ddb = client("dynamodb")
    for rnd in range(ROUNDS):
        def transact(i: int) -> tuple[int, str]:
            return outcome(lambda: ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {**key(f"r{rnd}"), "writer": {"N": str(i)}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {"TableName": table, "Key": key("counter"),
                            "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Put": {"TableName": table, "Item": key(f"r{rnd}", f"marker{i}")}},
            ]))

        results = race(*[lambda i=i: transact(i) for i in range(RACERS)])
        no_server_errors(results)
        assert Counter(results) == {(200, ""): 1,
                                    (400, "TransactionCanceledException"): RACERS - 1}, results
        winner = results.index((200, ""))
        round_items = ddb.query(TableName=table, ConsistentRead=True,
                                KeyConditionExpression="pk = :pk",
                                ExpressionAttributeValues={":pk": {"S": f"r{rnd}"}})["Items"]
        assert {item["sk"]["S"]: item.get("writer", {}).get("N") for item in round_items} == {
            "-": str(winner), f"marker{winner}": None}
        counter = ddb.get_item(TableName=table, Key=key("counter"), ConsistentRead=True)
        assert counter.get("Item", {}).get("n") == {"N": str(rnd + 1)}, counter.get("Item")
    assert ddb.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"] == \
        SEED + 1 + 2 * ROUNDS


def test_scans_and_writes_at_once_never_fail(table):
    """Writers change items of the partition others scan — transactions, as the app writes,
    and single puts and deletes: every request succeeds (no 500), and the table ends with
    exactly what the writers left."""
    ddb = client("dynamodb")
    writes = 8

    def writer(tag: str) -> list[tuple[int, str]]:
        done = []
        for k in range(writes):
            if k % 2:  # a transaction: the new item in, the previous one out
                done.append(outcome(lambda: ddb.transact_write_items(TransactItems=[
                    {"Put": {"TableName": table,
                             "Item": {**key("seed", f"{tag}-{k}"), "v": {"S": "y" * 64}}}},
                    {"Delete": {"TableName": table, "Key": key("seed", f"{tag}-{k - 1}")}}])))
            else:
                done.append(outcome(lambda: ddb.put_item(
                    TableName=table, Item={**key("seed", f"{tag}-{k}"), "v": {"S": "y" * 64}})))
        return done

    def scanner() -> list[tuple[int, str]]:
        return [outcome(lambda: ddb.scan(TableName=table, Select="COUNT"))
                for _ in range(writes)]

    tags = []
    for rnd in range(ROUNDS):
        tags += [f"r{rnd}w{i}" for i in range(RACERS // 2)]
        results = race(*[lambda t=t: writer(t) for t in tags[-(RACERS // 2):]],
                       *[scanner for _ in range(RACERS // 2)])
        flat = [o for batch in results for o in batch]
        no_server_errors(flat)
        assert set(flat) == {(200, "")}, Counter(flat)
    left = ddb.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]
    assert left == SEED + len(tags) * (writes // 2)


# --- S3 ----------------------------------------------------------------------------------------

@pytest.fixture
def bucket(stack):
    s3 = client("s3")
    name = unique("bucket")
    s3.create_bucket(Bucket=name)
    yield name
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def test_multipart_parts_listings_and_abort_race_without_errors(bucket):
    """Parts are uploaded while other racers list uploads, start new ones and abort the one
    the parts belong to: no 5xx; a racing part is stored or refused with NoSuchUpload; after
    the abort the upload is gone and a part arriving late is refused (NoSuchUpload)."""
    s3 = client("s3")
    for rnd in range(ROUNDS):
        upload = s3.create_multipart_upload(Bucket=bucket, Key=f"obj{rnd}")["UploadId"]

        def part(number: int) -> tuple[int, str]:
            return outcome(lambda: s3.upload_part(Bucket=bucket, Key=f"obj{rnd}",
                                                  UploadId=upload, PartNumber=number,
                                                  Body=b"p" * 65536))

        def listing() -> tuple[int, str]:
            return outcome(lambda: [s3.list_multipart_uploads(Bucket=bucket)
                                    for _ in range(5)])

        def starting() -> tuple[int, str]:
            return outcome(lambda: [s3.create_multipart_upload(Bucket=bucket,
                                                               Key=f"other{rnd}-{k}")
                                    for k in range(5)])

        def abort() -> tuple[int, str]:
            return outcome(lambda: s3.abort_multipart_upload(Bucket=bucket, Key=f"obj{rnd}",
                                                             UploadId=upload))

        results = race(*[lambda n=n: part(n) for n in range(1, RACERS - 2)],
                       listing, starting, abort)
        no_server_errors(results)
        parts, others = results[:RACERS - 3], results[RACERS - 3:]
        assert set(parts) <= {(200, ""), (404, "NoSuchUpload")}, parts
        assert others == [(200, "")] * 3, others
        assert part(RACERS) == (404, "NoSuchUpload")
        assert outcome(lambda: s3.list_parts(Bucket=bucket, Key=f"obj{rnd}",
                                             UploadId=upload)) == (404, "NoSuchUpload")
        open_uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert upload not in {u["UploadId"] for u in open_uploads}
        assert sum(u["Key"].startswith(f"other{rnd}-") for u in open_uploads) == 5


# --- SQS ---------------------------------------------------------------------------------------

SQS_ROUNDS = 4
BACKLOG = 100  # delayed messages the queue already holds (never visible during the test)


@pytest.fixture
def queue(stack):
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=unique("queue"),
                           Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    for start in range(0, BACKLOG, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(k), "MessageBody": f"later{k}", "DelaySeconds": 900}
            for k in range(start, start + 10)])
    yield url
    sqs.delete_queue(QueueUrl=url)


def test_concurrent_send_receive_delete_loses_and_duplicates_nothing(queue):
    """Receivers deleting what they got while senders add more, on a queue with a backlog of
    delayed messages: every message is received exactly once within its visibility timeout,
    none is lost, no deleted one comes back, and only the delayed backlog is left."""
    sqs = client("sqs")
    senders, per_sender, waiting = 2, 10, 20
    receivers = RACERS - senders
    for rnd in range(SQS_ROUNDS):
        for k in range(0, waiting, 10):
            sqs.send_message_batch(QueueUrl=queue, Entries=[
                {"Id": str(j), "MessageBody": f"r{rnd}-w{j}"} for j in range(k, k + 10)])
        sent = {f"r{rnd}-w{j}" for j in range(waiting)} | {
            f"r{rnd}-s{i}-m{k}" for i in range(senders) for k in range(per_sender)}
        received: list[str] = []
        lock = threading.Lock()
        senders_done = threading.Event()
        finished: list[int] = []

        def send(i: int) -> None:
            for k in range(per_sender):
                sqs.send_message(QueueUrl=queue, MessageBody=f"r{rnd}-s{i}-m{k}")
            with lock:
                finished.append(i)
                if len(finished) == senders:
                    senders_done.set()

        def receive() -> None:
            empty_after_senders = 0
            # bounded: stops once the senders are done and the queue answered empty 3 times
            for _ in range(1000):
                got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=5,
                                          WaitTimeSeconds=0).get("Messages", [])
                for message in got:
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                with lock:
                    received.extend(message["Body"] for message in got)
                if got:
                    empty_after_senders = 0
                elif senders_done.is_set():
                    empty_after_senders += 1
                    if empty_after_senders >= 3:
                        return

        race(*[lambda i=i: send(i) for i in range(senders)],
             *[receive for _ in range(receivers)])
        duplicates = [body for body, n in Counter(received).items() if n > 1]
        assert duplicates == [], duplicates
        assert set(received) == sent, sorted(sent - set(received))[:10]
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])
        assert attributes["Attributes"] == {"ApproximateNumberOfMessages": "0",
                                            "ApproximateNumberOfMessagesNotVisible": "0",
                                            "ApproximateNumberOfMessagesDelayed": str(BACKLOG)}


# --- Step Functions ----------------------------------------------------------------------------

@pytest.fixture
def state_machine(stack):
    sfn = client("stepfunctions")
    arn = sfn.create_state_machine(
        name=unique("machine"), roleArn="arn:aws:iam::123456789012:role/contract-tests",
        definition=json.dumps({"StartAt": "Hold", "States": {
            "Hold": {"Type": "Wait", "Seconds": 30, "End": True}}}))["stateMachineArn"]
    yield arn
    for execution in sfn.list_executions(stateMachineArn=arn,
                                         statusFilter="RUNNING")["executions"]:
        sfn.stop_execution(executionArn=execution["executionArn"])
    sfn.delete_state_machine(stateMachineArn=arn)


def test_executions_with_one_name_start_once_and_stop_at_once(state_machine):
    """Racers start an execution of the same name with different inputs: one starts, the
    others get ExecutionAlreadyExists and exactly one execution has that name. StopExecution
    then makes it ABORTED at once, while its Wait state would still run for 30 s."""
    sfn = client("stepfunctions")
    for rnd in range(ROUNDS):
        name = f"run{rnd}"

        def start(i: int) -> tuple[int, str]:
            return outcome(lambda: sfn.start_execution(stateMachineArn=state_machine,
                                                       name=name, input=json.dumps({"i": i})))

        results = race(*[lambda i=i: start(i) for i in range(RACERS)])
        no_server_errors(results)
        assert Counter(results) == {(200, ""): 1,
                                    (400, "ExecutionAlreadyExists"): RACERS - 1}, results
        runs = [e for e in sfn.list_executions(stateMachineArn=state_machine)["executions"]
                if e["name"] == name]
        assert len(runs) == 1, runs
        arn = runs[0]["executionArn"]
        assert json.loads(sfn.describe_execution(executionArn=arn)["input"]) == {
            "i": results.index((200, ""))}
        sfn.stop_execution(executionArn=arn, error="Test", cause="stopped by the test")
        assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
