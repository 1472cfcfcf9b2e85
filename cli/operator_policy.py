"""The IAM policy an operator needs for `imagectl --aws` (printed by `imagectl iam-policy`).

imagectl runs the service's own code paths (accounts, tasks, the cleanup, node queues), so
its rights are the union of the functions' grants (infra/grants.py) plus what only an
operator does: create and remove users and datacenters, list the node queues, put platform
events on the platform bus. The resources are the stage's (by IMAGE_API_TABLE_PREFIX); the
account and region are left as `*`.
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain import names


def operator_policy(prefix: str) -> dict[str, Any]:
    from devstack.iam.intrinsics import Stack
    from infra import grants, template
    from infra.grants import CHECK, DELETE, PUT, SCAN, Grant, Table
    tables = template.stage_tables(prefix)
    operator = grants._merge(*grants.GRANTS.values(), Grant(tables={
        "users": Table((PUT, DELETE, SCAN, CHECK)), "dcs": Table((PUT, DELETE, SCAN)),
        # `task list` newest first: all, per DC, per creator (operator_views.list_tasks)
        "tasks": Table((), ("tasks-newest-index", "tasks-dc-index", "tasks-creator-index"))}))
    places = template._Places(prefix, tables, names.UPLOAD_PREFIX)
    any_region = "arn:aws:{}:*:*:"
    statements = [*places.statements(operator), {
        "Sid": "ListNodeQueues", "Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"
    }, {
        "Sid": "PlatformEvents", "Effect": "Allow", "Action": "events:PutEvents",
        "Resource": any_region.format("events") + "event-bus/"
        + names.platform_event_bus_name(prefix)}]
    arns = {logical_id: any_region.format("dynamodb") + "table/" + res["Properties"]["TableName"]
            for logical_id, res in tables.items()}
    arns["ImageStoreBucket"] = f"arn:aws:s3:::{prefix}-store-*"
    stack = Stack(
        refs={"AWS::Region": "*", "AWS::AccountId": "*", "AWS::Partition": "aws",
              "AWS::URLSuffix": "amazonaws.com",
              "NodeTokenParameter": template.node_token_parameter(prefix),
              **{template.machine_id(op): any_region.format("states") + "stateMachine:"
                 + names.state_machine_name(prefix, op) for op in template.OPERATIONS}},
        arns=arns, conditions={template.HAS_NODE_TOKEN: True})
    return {"Version": "2012-10-17", "Statement": stack.resolve(statements)}
