"""DynamoDB tables as CloudFormation resources, generated from the PynamoDB models.

The deploy template and the local stack both use `table_resources()`, so a table or index
exists in one place only: its model in chalicelib/models.py.
"""
from __future__ import annotations

import re
from typing import Any

from pynamodb.attributes import TTLAttribute


def _logical_id(model: Any) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", model.__name__) + "Table"


def table_properties(model: Any) -> dict[str, Any]:
    schema = model._get_schema()
    props: dict[str, Any] = {
        "TableName": model.Meta.table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a["AttributeName"],
                                  "AttributeType": a["AttributeType"]}
                                 for a in schema["attribute_definitions"]],
        # DynamoDB wants HASH before RANGE; PynamoDB lists keys in attribute order
        "KeySchema": sorted(({"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
                             for k in schema["key_schema"]), key=lambda k: k["KeyType"] != "HASH"),
    }
    indexes = []
    for gsi in schema["global_secondary_indexes"]:
        indexes.append({
            "IndexName": gsi["index_name"],
            "KeySchema": [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
                          for k in gsi["key_schema"]],
            "Projection": gsi["projection"],
        })
    if indexes:
        props["GlobalSecondaryIndexes"] = indexes
    ttl = [attr.attr_name for attr in model.get_attributes().values()
           if isinstance(attr, TTLAttribute)]
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl[0], "Enabled": True}
    props["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    return props


def table_resources() -> dict[str, dict[str, Any]]:
    from chalicelib.persistence.models import ALL_MODELS
    return {_logical_id(model): {"Type": "AWS::DynamoDB::Table",
                                 "Properties": table_properties(model)}
            for model in ALL_MODELS}


def create_table_kwargs(props: dict[str, Any]) -> dict[str, Any]:
    """The CreateTable API call equivalent to one template resource."""
    kwargs = {key: props[key] for key in ("TableName", "BillingMode", "AttributeDefinitions",
                                          "KeySchema", "GlobalSecondaryIndexes") if key in props}
    return kwargs
