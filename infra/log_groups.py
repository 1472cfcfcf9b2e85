"""Log groups the stack owns: one per function, one per state machine, the API's access log.

Each has the retention of the LogRetentionDays parameter (30 days by default) instead of
CloudWatch's "never expire", and goes with the stack. Functions write to theirs through
LoggingConfig.LogGroup (Chalice's roles may write to any log group); the state machines log
their errors (level ERROR, without execution data: inputs may name URLs); API Gateway writes one
JSON line per request.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.domain import names

RETENTION = "LogRetentionDays"
# the values CloudWatch Logs accepts for RetentionInDays
RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653]
API_LOG = "ApiAccessLogGroup"
# one JSON object per request: who, what, the answer and where it came from (no query string,
# no header: nothing a client sends as a secret)
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime", "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath", "status": "$context.status",
    "protocol": "$context.protocol", "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "gatewayResponse": "$context.error.responseType"}, separators=(",", ":"))
# Step Functions delivers logs through CloudWatch Logs' log delivery, whose actions support no
# resource-level permissions (Step Functions developer guide, "Logging using CloudWatch Logs")
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"]


def parameters() -> dict[str, Any]:
    return {RETENTION: {
        "Type": "Number", "Default": 30, "AllowedValues": RETENTION_DAYS,
        "Description": "Days the functions', state machines' and API access log groups keep "
                       "their logs"}}


def log_group(name: Any) -> dict[str, Any]:
    # goes with the stack: what it holds expires anyway
    return {"Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
            "Properties": {"LogGroupName": name, "RetentionInDays": {"Ref": RETENTION}}}


def function_log_groups(prefix: str, functions: list[str]) -> dict[str, Any]:
    """A log group per function, and the function's LoggingConfig pointing at it."""
    out: dict[str, Any] = {}
    for function in functions:
        group = f"{function}LogGroup"
        out[group] = log_group(f"/aws/lambda/{prefix}-{function}")
        out[function] = {"Properties": {"LoggingConfig": {"LogGroup": {"Ref": group}}}}
    return out


def state_machine_logging(prefix: str, machines: dict[str, str], role: str) -> dict[str, Any]:
    """`machines`: {logical ID: operation}. Errors of every execution go to the machine's log
    group; `role` (the machines' role) may set up the delivery."""
    out: dict[str, Any] = {}
    for machine, operation in machines.items():
        group = f"{machine}LogGroup"
        # /aws/vendedlogs/: AWS's prefix for delivered logs, so that the log groups' resource
        # policy stays within its size limit however many machines log
        out[group] = log_group(
            f"/aws/vendedlogs/states/{names.state_machine_name(prefix, operation)}")
        out[machine] = {"Properties": {"LoggingConfiguration": {
            "Level": "ERROR", "IncludeExecutionData": False,
            "Destinations": [{"CloudWatchLogsLogGroup": {
                "LogGroupArn": {"Fn::GetAtt": [group, "Arn"]}}}]}}}
    out[role] = {"Properties": {"Policies": [{"PolicyName": "log-errors", "PolicyDocument": {
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": LOG_DELIVERY_ACTIONS, "Resource": "*"}]}}]}}
    return out


def api_access_log(prefix: str, api: str) -> dict[str, Any]:
    """The stage's access log. API Gateway writes it with the region's CloudWatch role (an
    account setting, AWS::ApiGateway::Account): the stack sets one, and keeps that role when
    it is deleted, since other APIs of the account may log with it."""
    return {
        API_LOG: log_group(f"/aws/apigateway/{prefix}-access"),
        "ApiGatewayCloudWatchRole": {
            "Type": "AWS::IAM::Role", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]},
                "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/"
                                                  "service-role/"
                                                  "AmazonAPIGatewayPushToCloudWatchLogs"}]}},
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole",
                                                                "Arn"]}}},
        api: {"DependsOn": ["ApiGatewayAccount"], "Properties": {"AccessLogSetting": {
            "DestinationArn": {"Fn::GetAtt": [API_LOG, "Arn"]},
            "Format": ACCESS_LOG_FORMAT}}},
    }
