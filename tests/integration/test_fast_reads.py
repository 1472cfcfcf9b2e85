"""The emulator's fast path for DynamoDB reads (devstack/fast_reads.py) answers exactly what
moto's own serializer answers, for every attribute type the models use and more."""
from __future__ import annotations

import boto3
import pytest

from devstack import fast_reads

ITEM = {"name": {"S": "a"}, "n": {"N": "1.50"}, "b": {"BOOL": False}, "z": {"NULL": True},
        "l": {"L": [{"S": "x"}, {"M": {"deep": {"N": "-3"}}}]}, "ss": {"SS": ["p", "q"]},
        "ns": {"NS": ["1", "2"]}, "m": {"M": {"u": {"S": "ü ☃ \"quoted\""}}}}


@pytest.fixture
def table(stack):
    client = boto3.client("dynamodb")
    name = "fast-reads-contract"
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}])
    for index in range(5):
        client.put_item(TableName=name, Item={**ITEM, "name": {"S": f"item-{index}"}})
    yield client, name
    client.delete_table(TableName=name)


def _reads(client, name):
    answers = [
        client.query(TableName=name, KeyConditionExpression="#n = :v",
                     ExpressionAttributeNames={"#n": "name"},
                     ExpressionAttributeValues={":v": {"S": "item-1"}},
                     ReturnConsumedCapacity="TOTAL"),
        client.scan(TableName=name, Limit=2),
        client.scan(TableName=name, ProjectionExpression="#n, l",
                    ExpressionAttributeNames={"#n": "name"}),
        client.get_item(TableName=name, Key={"name": {"S": "item-2"}}),
        client.get_item(TableName=name, Key={"name": {"S": "missing"}}),
        client.batch_get_item(RequestItems={name: {"Keys": [{"name": {"S": "item-3"}},
                                                            {"name": {"S": "item-4"}}]}}),
    ]
    for answer in answers:
        answer.pop("ResponseMetadata")
    return answers


def test_index_pages_come_in_moto_s_order(stack, monkeypatch):
    """A Query of an index, page by page, both directions (the sort the fast path replaces)."""
    client = boto3.client("dynamodb")
    name = "fast-reads-index"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                              for a in ("name", "part", "sort")],
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-sort", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "part", "KeyType": "HASH"},
                                               {"AttributeName": "sort", "KeyType": "RANGE"}]}])
    try:
        for index in range(40):  # equal sort keys too: the table key breaks their ties
            client.put_item(TableName=name, Item={"name": {"S": f"n{(index * 7) % 40:02d}"},
                                                  "part": {"S": "p"},
                                                  "sort": {"S": f"s{index % 9}-Ä"}})

        def pages(forward: bool) -> list[list[str]]:
            result, start = [], {}
            for _ in range(40):  # 40 items in pages of 6: a wrong order must not loop on
                page = client.query(TableName=name, IndexName="by-sort", Limit=6,
                                    ScanIndexForward=forward,
                                    KeyConditionExpression="part = :p",
                                    ExpressionAttributeValues={":p": {"S": "p"}}, **start)
                result.append([item["name"]["S"] for item in page["Items"]])
                if "LastEvaluatedKey" not in page:
                    return result
                start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
            raise AssertionError("the pages never ended")

        fast = (pages(True), pages(False))
        monkeypatch.setattr(fast_reads, "ENABLED", False)
        assert fast == (pages(True), pages(False))
    finally:
        client.delete_table(TableName=name)


def test_the_fast_answers_are_moto_serializers_answers(table, monkeypatch):
    fast = _reads(*table)
    monkeypatch.setattr(fast_reads, "ENABLED", False)
    assert fast == _reads(*table)
