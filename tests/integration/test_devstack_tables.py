"""The local stack's tables follow the models: a table restored from an earlier version's saved
state gets the indexes it lacks (as a CloudFormation update would add them), and the index
covers the items already there."""
from __future__ import annotations

import uuid

import boto3

from devstack.stack import create_tables
from infra.tables import create_table_kwargs, table_resources


def test_a_kept_table_gets_the_missing_index(stack):
    from chalicelib.persistence.models import Image
    ddb = boto3.client("dynamodb")
    wanted = create_table_kwargs(table_resources()["ImageTable"]["Properties"])
    older = dict(wanted, TableName=f"older-images-{uuid.uuid4().hex[:8]}",
                 GlobalSecondaryIndexes=[index for index in wanted["GlobalSecondaryIndexes"]
                                         if index["IndexName"] != "file-index"],
                 AttributeDefinitions=[a for a in wanted["AttributeDefinitions"]
                                       if a["AttributeName"] != "file_digest"])
    ddb.create_table(**older)
    try:
        ddb.put_item(TableName=older["TableName"], Item={
            "name": {"S": "kept"}, "uuid": {"S": str(uuid.uuid4())},
            "file_digest": {"S": "abc:42"}})
        original = Image.Meta.table_name
        Image.Meta.table_name = older["TableName"]
        try:
            create_tables()
        finally:
            Image.Meta.table_name = original
        table = ddb.describe_table(TableName=older["TableName"])["Table"]
        assert "file-index" in {index["IndexName"] for index in table["GlobalSecondaryIndexes"]}
        found = ddb.query(TableName=older["TableName"], IndexName="file-index",
                          KeyConditionExpression="file_digest = :d",
                          ExpressionAttributeValues={":d": {"S": "abc:42"}})["Items"]
        assert [item["name"]["S"] for item in found] == ["kept"]
    finally:
        ddb.delete_table(TableName=older["TableName"])
