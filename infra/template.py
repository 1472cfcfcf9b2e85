"""The deploy template (SPEC §12): `chalice package` plus a merge template.

    python -m infra.template --stage prod OUT_DIR

writes OUT_DIR/merge.json, then OUT_DIR/sam.json and OUT_DIR/deployment.zip.

Chalice generates the functions, their roles (one per function, because autogen_policy is
false), the API, the EventBridge rules and the schedule. The merge template adds what the app
uses: the tables (from the PynamoDB models, via infra.tables), the image-store bucket (TLS and
SigV4 only), the node-agent queue, the state machines (statemachines/*.asl.json, verbatim),
IAM (one policy per function role, from infra.grants), the stage's throttling and the name
of the node token's SSM parameter (CloudFormation cannot create a SecureString); then
infra.hardening adds log groups, tracing, the failed-event queue and store versioning, and
infra.gateway_responses answers API Gateway's own errors in the API's envelope.

Chalice's merge deep-merges dicts but REPLACES lists, so IAM is added as separate
AWS::IAM::Policy resources rather than appended to the generated roles' policy lists.

Packaging runs twice: a first `chalice package` without merge tells us the logical IDs of
the generated functions and roles (environment variables must be merged into every function
by name), the second one applies the merge. The deployment package is cached by Chalice in
.chalice/deployments/, so the first pass costs seconds once the wheels are downloaded.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from chalicelib.adapters import metrics, store
from chalicelib.domain import names
from chalicelib.domain.vocabulary import OPERATIONS
from infra import grants, hardening, imgapi_edge, store_cors
from infra.gateway_responses import gateway_responses
from infra.grants import GRANTS

ROOT = Path(__file__).resolve().parent.parent
MACHINES = ROOT / "statemachines"
FUNCTION = "AWS::Serverless::Function"

# SendTaskSuccess/Failure/Heartbeat support no resource-level permissions: the task token is
# the authorisation, and IAM matches these actions against "*" only (Service Authorization
# Reference; cfn-lint's policy data lists no resource types for them). Any narrower Resource
# is an implicit deny at run time. They are the only data actions granted on "*".
UNSCOPED_ACTIONS = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"]


def stage_env(stage: str) -> dict[str, str]:
    """The environment variables .chalice/config.json gives every function of `stage`."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    return env


def not_found_headers(stage: str) -> dict[str, str]:
    """The envelope headers of the gateway's own 404 (no user: it answers before the app)."""
    from chalicelib.config import SERVICE_VERSION
    dc = stage_env(stage).get("IMAGE_API_DEFAULT_DC", "").strip() or names.DEFAULT_DC
    return {"es_version": SERVICE_VERSION, "es_dc": dc, "es_username": ""}


def table_prefix(stage: str) -> str:
    return stage_env(stage).get("IMAGE_API_TABLE_PREFIX", "").strip() or names.DEFAULT_PREFIX


def _camel(name: str) -> str:
    """Chalice's CloudFormation logical ID of a handler (step_import_file → StepImportFile)."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name))


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def machine_arn(prefix: str, operation: str) -> dict[str, str]:
    # Built from the deterministic name, not {"Ref": machine}: every function gets the ARNs in
    # its environment and the machines reference the step functions, so a Ref would be a cycle.
    return _sub("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
                + names.state_machine_name(prefix, operation))


def machine_id(operation: str) -> str:
    return operation.capitalize() + "StateMachine"


def stage_tables(prefix: str) -> dict[str, dict[str, Any]]:
    """infra.tables.table_resources() as the stage's app sees it.

    Models bind their table names when chalicelib.persistence.models is first imported, so the
    tables are
    generated in a child process with the stage's prefix (importing the models here could bind
    the wrong names for whoever imports the app later in this process, e.g. a test session).
    """
    code = ("import json; from infra.tables import table_resources; "
            "print(json.dumps(table_resources()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                         text=True, env={**os.environ, "IMAGE_API_TABLE_PREFIX": prefix})
    return json.loads(out.stdout)


def _steps() -> dict[str, set[str]]:
    """{operation: the ${step_...} placeholders of its ASL file}."""
    return {op: set(re.findall(r"\$\{(\w+)\}", (MACHINES / f"{op}.asl.json").read_text()))
            for op in OPERATIONS}


def merge_template(stage: str, base: dict[str, Any]) -> dict[str, Any]:
    """The merge template for `chalice package`, given the template Chalice makes without it."""
    prefix = table_prefix(stage)
    generated = base["Resources"]
    functions = sorted(k for k, v in generated.items() if v["Type"] == FUNCTION)
    steps = _steps()
    step_ids = {name: _camel(name) for names in steps.values() for name in names}
    missing = sorted(set(step_ids.values()) - set(functions))
    if missing:
        raise SystemExit(f"state machines need functions Chalice did not generate: {missing}")

    resources: dict[str, Any] = {}
    tables = stage_tables(prefix)
    for table in tables.values():
        # PynamoDB lists key attributes in declaration order; CloudFormation wants HASH first.
        props = table["Properties"]
        for schema in [props, *props.get("GlobalSecondaryIndexes", [])]:
            schema["KeySchema"].sort(key=lambda key: key["KeyType"] != "HASH")
        # Image records and the audit log outlive a deleted or replaced stack.
        table.update(DeletionPolicy="Retain", UpdateReplacePolicy="Retain")
    resources.update(tables)

    resources["ImageStoreBucket"] = {
        "Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
        "Properties": {
            # Deterministic and globally unique: the operator can find it without the stack.
            "BucketName": _sub(f"{prefix}-store-${{AWS::AccountId}}-${{AWS::Region}}"),
            # "Object Created" events in the upload prefix resume snapshot exports (SPEC §5.3).
            "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True, "BlockPublicPolicy": True,
                "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            # Backstop for the cleanup job, which aborts stale uploads after its grace period.
            # the console's browser PUTs upload parts here (infra/store_cors.py)
            "CorsConfiguration": store_cors.configuration(),
            "LifecycleConfiguration": {"Rules": [{
                "Id": "abort-incomplete-multipart-uploads", "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]},
        },
    }
    # The store's policy, and the IMGAPI base for compute nodes: CloudFront with the store as
    # an origin, which the policy lets read image files (infra/imgapi_edge.py)
    resources.update(imgapi_edge.resources(prefix, store_policy=bucket_policy()))
    # Export requests go to one queue per compute node (`<prefix>-export-<node>`), created by
    # the app when it first sends to a node (or by `./imagectl node add`); what no agent takes
    # after 5 receives ends here. Requests are transient (each task times out): queues may go.
    resources["ExportDeadLetterQueue"] = {
        "Type": "AWS::SQS::Queue", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
        "Properties": {"QueueName": names.export_dead_letter_queue_name(prefix),
                       "SqsManagedSseEnabled": True,
                       "MessageRetentionPeriod": 14 * 24 * 3600},
    }
    resources["NodeAgentPolicy"] = node_agent_policy()
    resources["StateMachineRole"] = state_machine_role([step_ids[n] for n in sorted(step_ids)])
    for op in OPERATIONS:
        resources[machine_id(op)] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": names.state_machine_name(prefix, op),
                "RoleArn": {"Fn::GetAtt": ["StateMachineRole", "Arn"]},
                # The file verbatim: the local stack and the tests load the same definitions.
                "DefinitionString": (MACHINES / f"{op}.asl.json").read_text(),
                "DefinitionSubstitutions": {name: {"Fn::GetAtt": [step_ids[name], "Arn"]}
                                            for name in sorted(steps[op])},
            },
        }

    resources.update(platform_event_bus(prefix))

    # One policy per function role, from infra.grants: each function gets what it uses.
    resources.update(function_policies(stage, generated, functions, tables))

    # Every function gets the deployment's names: config.json supplies what is known before
    # deploy (LOG_LEVEL, PLATFORM_EVENT_SOURCE, ...), the template what only CloudFormation
    # knows. Environment.Variables is a dict, so this merges with Chalice's values.
    env = {
        "IMAGE_API_TABLE_PREFIX": prefix,
        "IMAGE_STORE_BUCKET": {"Ref": "ImageStoreBucket"},
        "EXPORT_QUEUE_PREFIX": names.export_queue_prefix(prefix),
        "EXPORT_DEAD_LETTER_ARN": {"Fn::GetAtt": ["ExportDeadLetterQueue", "Arn"]},
        "LOG_FORMAT": "json",
        **{names.state_machine_arn_variable(op): machine_arn(prefix, op) for op in OPERATIONS},
    }
    for logical_id in functions:
        variables = dict(env)
        if GRANTS[logical_id].node_token:  # only where it may be read (NODE_TOKEN is not set)
            variables["NODE_TOKEN_PARAMETER"] = {"Ref": "NodeTokenParameter"}
        # Lambda's JSON log format: the runtime's own lines (START, REPORT, errors) are JSON
        # objects too, next to the app's (LOG_FORMAT=json, chalicelib/logs.py)
        patch: dict[str, Any] = {"Environment": {"Variables": variables},
                                 "LoggingConfig": {"LogFormat": "JSON"}}
        for event_id, event in generated[logical_id]["Properties"].get("Events", {}).items():
            pattern = event.get("Properties", {}).get("Pattern", {})
            # The app fixes its rule patterns when it is imported, before the bucket exists
            # (chalicelib/events/workflow.py reads IMAGE_STORE_BUCKET at import). Rather than
            # guess the account ID at packaging time, the S3 rule's bucket name (a list, so
            # replaced by the merge) becomes a Ref to the bucket created here.
            if pattern.get("source") == ["aws.s3"]:
                patch.setdefault("Events", {})[event_id] = {"Properties": {"Pattern": {
                    "detail": {"bucket": {"name": [{"Ref": "ImageStoreBucket"}]}}}}}
            # Status changes of this service's machines only, not of every machine in the account.
            # Platform events are heard on the platform's own bus only (README "Security").
            elif logical_id == PLATFORM_FUNCTION:
                patch.setdefault("Events", {})[event_id] = {"Properties": {
                    "EventBusName": {"Ref": "PlatformEventBus"}}}
            elif pattern.get("source") == ["aws.states"]:
                patch.setdefault("Events", {})[event_id] = {"Properties": {"Pattern": {
                    "detail": {"stateMachineArn": [machine_arn(prefix, op) for op in OPERATIONS]}}}}
        resources[logical_id] = {"Properties": patch}

    # API Gateway's own answers in the API's envelope, like the local stack's
    # (infra/gateway_responses.py)
    resources["RestAPI"] = {"Properties": {
        "GatewayResponses": gateway_responses(not_found_headers(stage)),
        # Stage-wide throttling of every method (all clients together); the account's
        # regional limit still applies above it.
        "MethodSettings": [{
            "ResourcePath": "/*", "HttpMethod": "*",
            "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"}}],
        # a gzip'd answer (api/compression.py) is base64 in the proxy response; API Gateway
        # decodes it only when the binary media types match the request's Accept (`*/*` from
        # `requests`), so every type is binary (a text answer passes unchanged)
        "BinaryMediaTypes": ["*~1*"],
    }}

    outputs = {
        "ImageStoreBucketName": {"Value": {"Ref": "ImageStoreBucket"}},
        "ExportDeadLetterQueueUrl": {"Value": {"Ref": "ExportDeadLetterQueue"}},
        "NodeAgentPolicyArn": {"Value": {"Ref": "NodeAgentPolicy"}},
        "PlatformEventBusArn": {"Value": {"Fn::GetAtt": ["PlatformEventBus", "Arn"]}},
        **{f"{machine_id(op)}Arn": {"Value": {"Ref": machine_id(op)}} for op in OPERATIONS},
        "DashboardName": {"Value": {"Ref": "Dashboard"}},
        **imgapi_edge.outputs(),
    }
    # Alarms on what needs a person, and a dashboard of the same figures (README
    # "Observability"); the app's own metrics are EMF lines (chalicelib/adapters/metrics.py).
    hardening.harden(prefix, resources, generated, functions,
                     {machine_id(op): op for op in OPERATIONS}, _alarm)
    return {"Parameters": {**template_parameters(prefix), **hardening.parameters(),
                           **store_cors.PARAMETERS},
            "Conditions": {**CONDITIONS, **hardening.CONDITIONS, **store_cors.CONDITIONS},
            "Resources": {**resources, **observability(prefix, functions, generated)},
            "Outputs": {**outputs, **hardening.OUTPUTS}}


def node_agent_policy() -> dict[str, Any]:
    """For the compute nodes' agents (README "Snapshot export"): their own queue and nothing
    else. A node's role or user carries the tag `imageapi-export-queue` = its queue's name."""
    return {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "Description": "Node agent: receive and delete the export requests of its own queue",
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "OwnExportQueue", "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility",
                           "sqs:DeleteMessage", "sqs:GetQueueUrl"],
                "Resource": _sub("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"
                                 "${!aws:PrincipalTag/imageapi-export-queue}")}]},
        },
    }


def state_machine_role(step_functions: list[str]) -> dict[str, Any]:
    """The state machines' role: invoke the step functions (their logical IDs), nothing else."""
    step_arns = [{"Fn::GetAtt": [logical_id, "Arn"]} for logical_id in step_functions]
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "invoke-steps", "PolicyDocument": {
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "lambda:InvokeFunction",
                    "Resource": step_arns}]}}],
        },
    }


PLATFORM_FUNCTION = "".join(part.title() for part in names.PLATFORM_EVENT_HANDLER.split("_"))


def platform_event_bus(prefix: str) -> dict[str, Any]:
    """The bus platform events arrive on. On the default bus any principal of the account
    that may PutEvents could forge a "User State"; here only the principals named by
    PlatformEventPrincipals may put (an Allow for other accounts, a Deny for everyone else —
    a same-account principal with a broad IAM policy included)."""
    bus = {"Ref": "PlatformEventBus"}
    publishers = {"Ref": "PlatformEventPrincipals"}
    return {
        "PlatformEventBus": {"Type": "AWS::Events::EventBus",
                             "Properties": {"Name": names.platform_event_bus_name(prefix)}},
        "PlatformEventBusAllowPublishers": {
            "Type": "AWS::Events::EventBusPolicy",
            "Properties": {"EventBusName": bus, "StatementId": "AllowPlatformPublishers",
                           "Statement": {"Effect": "Allow", "Principal": {"AWS": publishers},
                                         "Action": "events:PutEvents",
                                         "Resource": {"Fn::GetAtt": ["PlatformEventBus",
                                                                     "Arn"]}}}},
        "PlatformEventBusDenyOthers": {
            "Type": "AWS::Events::EventBusPolicy",
            "Properties": {"EventBusName": bus, "StatementId": "DenyEveryoneElse",
                           "Statement": {"Effect": "Deny", "Principal": "*",
                                         "Action": "events:PutEvents",
                                         "Resource": {"Fn::GetAtt": ["PlatformEventBus", "Arn"]},
                                         "Condition": {"StringNotLike": {
                                             "aws:PrincipalArn": publishers}}}}},
    }


HAS_NODE_TOKEN = "HasNodeTokenParameter"
HAS_ALARM_TOPIC = "HasAlarmTopic"
CONDITIONS = {
    HAS_NODE_TOKEN: {"Fn::Not": [{"Fn::Equals": [{"Ref": "NodeTokenParameter"}, ""]}]},
    HAS_ALARM_TOPIC: {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]},
}

# The app's metrics (namespace "imageapi", EMF), as the dashboard shows them:
# name -> (dimension names, statistic)
APP_METRICS = {
    "Tasks": (("operation", "outcome"), "Sum"),
    "BytesTransferred": (("step",), "Sum"),
    "TransferRate": (("step",), "Average"),
    "StepRetries": (("step",), "Sum"),
    "StepFailures": (("kind", "step"), "Sum"),
    "AuthenticationFailures": (("credential",), "Sum"),
    "PlatformEventsDropped": (("reason",), "Sum"),
    "TasksPastDeadline": ((), "Maximum"),
}
PERIOD = 300
# CloudWatch: an alarm on a metric math expression may read at most 10 metrics.
MAX_ALARM_METRICS = 10


def observability(prefix: str, functions: list[str],
                  generated: dict[str, Any]) -> dict[str, Any]:
    """CloudWatch alarms (notifying AlarmTopicArn when it is set) and the dashboard."""
    # the REST API's name, as API Gateway's metrics name it (Chalice: the app's name)
    api_name = generated["RestAPI"]["Properties"]["DefinitionBody"]["info"]["title"]
    alarms: dict[str, Any] = {}
    for op in OPERATIONS:
        machine = [{"Name": "StateMachineArn", "Value": {"Ref": machine_id(op)}}]
        alarms[f"{machine_id(op)}FailedAlarm"] = _alarm(
            f"{prefix}: {op} executions failed (more than the threshold in 5 minutes; a "
            "rolled-back operation ends its execution FAILED)",
            "AWS/States", "ExecutionsFailed", machine, "Sum",
            threshold={"Ref": "ExecutionsFailedAlarmThreshold"})
        alarms[f"{machine_id(op)}TimedOutAlarm"] = _alarm(
            f"{prefix}: {op} executions timed out", "AWS/States", "ExecutionsTimedOut",
            machine, "Sum")
    alarms["ExportDeadLetterQueueAlarm"] = _alarm(
        f"{prefix}: export requests no node agent took (the export dead-letter queue is not "
        "empty)", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
        [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ExportDeadLetterQueue", "QueueName"]}}],
        "Maximum")
    alarms["TasksPastDeadlineAlarm"] = _alarm(
        f"{prefix}: the cleanup found tasks running past their deadline (their workflow did not "
        "end them)", metrics.NAMESPACE, "TasksPastDeadline", [], "Maximum", period=900)
    api = [{"Name": "ApiName", "Value": api_name}, {"Name": "Stage", "Value": "api"}]
    alarms["Api5xxAlarm"] = _alarm(
        f"{prefix}: the API answered 5xx (the app never does: a function failed or timed out)",
        "AWS/ApiGateway", "5XXError", api, "Sum")
    groups = {"Api": [f for f in functions if not f.startswith(("Step", "On"))],
              "Steps": [f for f in functions if f.startswith("Step")],
              "Events": [f for f in functions if f.startswith("On")]}
    for group, members in groups.items():
        for start in range(0, len(members), MAX_ALARM_METRICS - 1):
            chunk = members[start:start + MAX_ALARM_METRICS - 1]
            suffix = str(start // (MAX_ALARM_METRICS - 1) + 1) if start else ""
            alarms[f"Throttles{group}{suffix}Alarm"] = _throttles_alarm(
                f"{prefix}: Lambda throttled {group.lower()} functions ({', '.join(chunk)})",
                chunk)
    return {**alarms, "Dashboard": dashboard(prefix, functions, api_name)}


def _alarm_actions() -> dict[str, Any]:
    """Notify AlarmTopicArn on alarm and on recovery; no actions when it is empty."""
    topic = {"Fn::If": [HAS_ALARM_TOPIC, [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    return {"AlarmActions": topic, "OKActions": topic}


def _alarm(description: str, namespace: str, metric: str, dimensions: list[dict[str, Any]],
           statistic: str, *, threshold: Any = 0, period: int = PERIOD) -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "Namespace": namespace, "MetricName": metric,
        **({"Dimensions": dimensions} if dimensions else {}),
        "Statistic": statistic, "Period": period, "EvaluationPeriods": 1,
        "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching", **_alarm_actions()}}


def _throttles_alarm(description: str, functions: list[str]) -> dict[str, Any]:
    """AWS/Lambda Throttles summed over `functions` (metric math: one alarm, many metrics)."""
    reads = [{"Id": f"m{index}", "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Throttles",
                   "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function}}]},
        "Period": PERIOD, "Stat": "Sum"}} for index, function in enumerate(functions)]
    total = {"Id": "throttles", "Label": "Throttles", "ReturnData": True,
             "Expression": "SUM([" + ",".join(read["Id"] for read in reads) + "])"}
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "Metrics": [*reads, total], "EvaluationPeriods": 1,
        "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching", **_alarm_actions()}}


def dashboard(prefix: str, functions: list[str], api_name: str) -> dict[str, Any]:
    """One dashboard: the app's metrics (by SEARCH, every dimension value there is), the
    state machines, the export dead-letter queue, the API and the functions' throttles."""
    widgets: list[dict[str, Any]] = []

    def graph(title: str, lines: list[Any], stat: str = "Sum") -> None:
        index = len(widgets)
        widgets.append({"type": "metric", "x": (index % 2) * 12, "y": (index // 2) * 6,
                        "width": 12, "height": 6, "properties": {
                            "title": title, "region": "${AWS::Region}", "stat": stat,
                            "period": PERIOD, "view": "timeSeries", "metrics": lines}})

    def search(namespace: str, dimensions: tuple[str, ...], metric: str, stat: str) -> list[Any]:
        schema = ",".join([namespace, *dimensions])
        return [{"expression": f"SEARCH('{{{schema}}} MetricName=\"{metric}\"', '{stat}', "
                               f"{PERIOD})", "id": "e" + metric.lower(), "label": ""}]

    for metric, (dims, stat) in APP_METRICS.items():
        graph(f"{metric} ({stat.lower()})", [search(metrics.NAMESPACE, dims, metric, stat)],
              stat)
    for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed",
                   "ExecutionsTimedOut", "ExecutionsAborted"):
        graph(f"Step Functions {metric}", [
            ["AWS/States", metric, "StateMachineArn", f"${{{machine_id(op)}}}",
             {"label": op}] for op in OPERATIONS])
    graph("Export dead-letter queue: messages visible",
          [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
            "${ExportDeadLetterQueue.QueueName}"]], "Maximum")
    graph("API requests and errors", [
        ["AWS/ApiGateway", metric, "ApiName", api_name, "Stage", "api"]
        for metric in ("Count", "4XXError", "5XXError")])
    graph("Lambda throttles", [["AWS/Lambda", "Throttles", "FunctionName", f"${{{function}}}",
                                {"label": function}] for function in functions])
    graph("Lambda errors", [["AWS/Lambda", "Errors", "FunctionName", f"${{{function}}}",
                             {"label": function}] for function in functions])
    body = json.dumps({"widgets": widgets}, separators=(",", ":"))
    return {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": prefix, "DashboardBody": _sub(body)}}


def template_parameters(prefix: str) -> dict[str, Any]:
    return {
        # CloudFormation cannot create SecureString parameters: the operator puts the token
        # (README "Deployment"); the template takes its name and lets only the API read it.
        "NodeTokenParameter": {
            "Type": "String", "Default": node_token_parameter(prefix),
            "AllowedPattern": r"^$|^(/[A-Za-z0-9_.-]+)+$",
            "Description": "SSM SecureString parameter holding the token compute nodes present "
                           "(ES-NODE-TOKEN) to read the image source and with every export "
                           "call; it must exist before the first node call. Empty: no node "
                           "token (API keys and export tokens only)"},
        "PlatformEventPrincipals": {
            "Type": "CommaDelimitedList",
            "Description": "IAM principal ARNs that may publish platform events (VMs, snapshots, "
                           "users, DCs) on the platform event bus; nobody else may"},
        "ApiThrottleRateLimit": {
            "Type": "Number", "Default": 100, "MinValue": 1,
            "Description": "Requests per second the API stage accepts (steady rate, all "
                           "clients together)"},
        "ApiThrottleBurstLimit": {
            "Type": "Number", "Default": 200, "MinValue": 1,
            "Description": "Requests the API stage accepts at once above the steady rate"},
        "AlarmTopicArn": {
            "Type": "String", "Default": "",
            "AllowedPattern": r"^$|^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$",
            "Description": "SNS topic the CloudWatch alarms notify (in alarm and back to OK). "
                           "Empty: the alarms have no actions"},
        "ExecutionsFailedAlarmThreshold": {
            "Type": "Number", "Default": 5, "MinValue": 0,
            "Description": "Failed executions of one state machine within 5 minutes above "
                           "which its alarm fires (a rolled-back operation, e.g. a file that "
                           "is not found, ends its execution FAILED)"},
    }


def node_token_parameter(prefix: str) -> str:
    return f"/{prefix}/node-token"


def bucket_policy() -> dict[str, Any]:
    """The store answers only TLS and SigV4 requests, whoever signs them (the functions, the
    nodes' presigned URLs, operators). Deny-only: not a public policy."""
    everything = [{"Fn::GetAtt": ["ImageStoreBucket", "Arn"]}, _sub("${ImageStoreBucket.Arn}/*")]
    return {"Type": "AWS::S3::BucketPolicy", "Properties": {
        "Bucket": {"Ref": "ImageStoreBucket"},
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
             "Action": "s3:*", "Resource": everything,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "DenyOtherThanSigV4", "Effect": "Deny", "Principal": "*",
             "Action": "s3:*", "Resource": everything,
             "Condition": {"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}}},
        ]}}}


def function_policies(stage: str, generated: dict[str, Any], functions: list[str],
                      tables: dict[str, Any]) -> dict[str, Any]:
    """An AWS::IAM::Policy per function, on that function's role only (infra.grants)."""
    unknown, stale = sorted(set(functions) - set(GRANTS)), sorted(set(GRANTS) - set(functions))
    if unknown or stale:
        raise SystemExit(f"infra/grants.py: no grant for {unknown}; no function for {stale}")
    roles = {logical_id: generated[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
             for logical_id in functions}
    shared = sorted({role for role in roles.values() if list(roles.values()).count(role) > 1})
    if shared:  # a shared role would hand one function's rights to the others
        raise SystemExit(f"functions share the roles {shared}: one role per function needed")
    prefix = table_prefix(stage)
    upload_prefix = stage_env(stage).get("IMAGE_STORE_UPLOAD_PREFIX", "").strip() \
        or names.UPLOAD_PREFIX
    documents = policy_documents(prefix, tables, upload_prefix)
    return {f"{logical_id}Policy": {"Type": "AWS::IAM::Policy", "Properties": {
        "PolicyName": f"{prefix}-{logical_id}", "Roles": [{"Ref": roles[logical_id]}],
        "PolicyDocument": documents[logical_id]}}
        for logical_id in functions}


def policy_documents(prefix: str, tables: dict[str, Any],
                     upload_prefix: str) -> dict[str, dict[str, Any]]:
    """Each function's policy document (infra.grants), CloudFormation intrinsics unresolved;
    the local stack enforces these same documents (devstack/iam)."""
    places = _Places(prefix, tables, upload_prefix)
    return {logical_id: {"Version": "2012-10-17", "Statement": places.statements(grant)}
            for logical_id, grant in GRANTS.items()}


class _Places:
    """Where a grant's actions apply: the stage's tables, key spaces, machines and queues."""

    def __init__(self, prefix: str, tables: dict[str, Any], upload_prefix: str) -> None:
        self.prefix = prefix
        self.tables = {res["Properties"]["TableName"].removeprefix(f"{prefix}-"): logical_id
                       for logical_id, res in tables.items()}
        self.indexes = {logical_id: {i["IndexName"] for i in
                                     res["Properties"].get("GlobalSecondaryIndexes", [])}
                        for logical_id, res in tables.items()}
        bucket = "${ImageStoreBucket.Arn}/"
        self.spaces = {grants.IMAGES: _sub(bucket + store.image_prefix("*") + "*"),
                       grants.UPLOADS: _sub(bucket + upload_prefix + "*"),
                       grants.ANYWHERE: _sub(bucket + "*")}

    def statements(self, grant: grants.Grant) -> list[Any]:
        return [*self._tables(grant), *self._store(grant), *self._workflows(grant),
                *self._queues(grant), *self._task_events(grant), *self._node_token(grant)]

    def _tables(self, grant: grants.Grant) -> list[dict[str, Any]]:
        out = []
        for short, table in sorted(grant.tables.items()):
            logical_id = self.tables.get(short)
            if logical_id is None or not set(table.indexes) <= self.indexes[logical_id]:
                raise SystemExit(f"infra/grants.py names an unknown table or index: {short} "
                                 f"{table.indexes}")
            if table.actions:
                out.append({"Sid": logical_id, "Effect": "Allow", "Action": list(table.actions),
                            "Resource": {"Fn::GetAtt": [logical_id, "Arn"]}})
            if table.indexes:
                out.append({"Sid": f"{logical_id}Indexes", "Effect": "Allow",
                            "Action": grants.QUERY,
                            "Resource": [_sub(f"${{{logical_id}.Arn}}/index/{index}")
                                         for index in table.indexes]})
        return out

    def _store(self, grant: grants.Grant) -> list[dict[str, Any]]:
        everywhere = set(grant.objects.get(grants.ANYWHERE, ()))
        out = []
        for space, actions in sorted(grant.objects.items()):
            left = actions if space == grants.ANYWHERE else \
                [a for a in actions if a not in everywhere]
            if left:
                out.append({"Sid": f"Store{space.capitalize()}", "Effect": "Allow",
                            "Action": list(left), "Resource": self.spaces[space]})
        if grant.bucket:
            out.append({"Sid": "StoreBucket", "Effect": "Allow", "Action": list(grant.bucket),
                        "Resource": {"Fn::GetAtt": ["ImageStoreBucket", "Arn"]}})
        return out

    def _workflows(self, grant: grants.Grant) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if grants.START in grant.executions:
            out.append({"Sid": "StartWorkflows", "Effect": "Allow", "Action": grants.START,
                        "Resource": [{"Ref": machine_id(op)} for op in OPERATIONS]})
        watch = [action for action in grant.executions if action != grants.START]
        if watch:
            out.append({"Sid": "WatchWorkflows", "Effect": "Allow", "Action": watch,
                        "Resource": [_sub("arn:${AWS::Partition}:states:${AWS::Region}:"
                                          "${AWS::AccountId}:execution:"
                                          f"{names.state_machine_name(self.prefix, op)}:*")
                                     for op in OPERATIONS]})
        if grant.task_tokens:
            if not set(grant.task_tokens) <= set(UNSCOPED_ACTIONS):
                raise SystemExit(f"not a task-token action: {grant.task_tokens}")
            out.append({"Sid": "TaskTokens", "Effect": "Allow",
                        "Action": list(grant.task_tokens), "Resource": "*"})
        return out

    def _queues(self, grant: grants.Grant) -> list[dict[str, Any]]:
        if not grant.export_queues:
            return []
        return [{"Sid": "ExportQueues", "Effect": "Allow",
                 "Resource": _sub("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"
                                  f"{names.export_queue_prefix(self.prefix)}*"),
                 "Action": ["sqs:CreateQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
                            "sqs:SetQueueAttributes", "sqs:SendMessage"]}]

    def _task_events(self, grant: grants.Grant) -> list[dict[str, Any]]:
        """A task's end with a callback, announced on the default bus: that event only."""
        if not grant.task_events:
            return []
        return [{"Sid": "TaskEndedEvents", "Effect": "Allow", "Action": "events:PutEvents",
                 "Resource": _sub("arn:${AWS::Partition}:events:${AWS::Region}:"
                                  "${AWS::AccountId}:event-bus/default"),
                 "Condition": {"StringEquals": {"events:source": names.TASK_EVENT_SOURCE,
                                                "events:detail-type": names.TASK_ENDED}}}]

    def _node_token(self, grant: grants.Grant) -> list[Any]:
        """The node token's parameter, and its decryption through SSM for that parameter
        only (the encryption context SSM sets), whichever key encrypts it: the AWS-managed
        alias/aws/ssm, or a customer key whose policy delegates to IAM."""
        if not grant.node_token:
            return []
        parameter = _sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:"
                         "parameter${NodeTokenParameter}")
        read = {"Sid": "NodeTokenParameter", "Effect": "Allow", "Action": "ssm:GetParameter",
                "Resource": parameter}
        decrypt = {"Sid": "NodeTokenDecrypt", "Effect": "Allow", "Action": "kms:Decrypt",
                   "Resource": _sub("arn:${AWS::Partition}:kms:${AWS::Region}:"
                                    "${AWS::AccountId}:key/*"),
                   "Condition": {"StringEquals": {
                       "kms:ViaService": _sub("ssm.${AWS::Region}.${AWS::URLSuffix}"),
                       "kms:EncryptionContext:PARAMETER_ARN": parameter}}}
        return [{"Fn::If": [HAS_NODE_TOKEN, statement, {"Ref": "AWS::NoValue"}]}
                for statement in (read, decrypt)]


def chalice_package(stage: str, out_dir: Path, merge: Path | None = None) -> dict[str, Any]:
    """Run `chalice package` in a child process; returns the generated sam.json."""
    env = {**os.environ, **stage_env(stage)}
    # Chalice refuses to run without a region; packaging never calls AWS.
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION") or "us-east-1")
    cmd = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())",
           "--project-dir", str(ROOT), "package", "--stage", stage]
    if merge is not None:
        cmd += ["--merge-template", str(merge)]
    result = subprocess.run([*cmd, str(out_dir)], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"chalice package failed ({result.returncode}):\n"
                           f"{result.stdout}\n{result.stderr}")
    return json.loads((out_dir / "sam.json").read_text())


def build(stage: str, out_dir: str | Path = ROOT / "build" / "package") -> dict[str, Any]:
    """Write OUT_DIR/merge.json, sam.json and deployment.zip; return the final template."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = chalice_package(stage, Path(tmp) / "base")
    merge_file = out / "merge.json"
    merge_file.write_text(json.dumps(merge_template(stage, base), indent=2) + "\n")
    return chalice_package(stage, out, merge_file)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("out_dir", nargs="?", default=str(ROOT / "build" / "package"))
    args = parser.parse_args(argv)
    template = build(args.stage, args.out_dir)
    print(f"{args.out_dir}: sam.json ({len(template['Resources'])} resources), deployment.zip")


if __name__ == "__main__":
    main()
