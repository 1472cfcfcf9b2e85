"""The deploy template (SPEC §12): `chalice package` plus a merge template.

    python -m infra.template --stage prod OUT_DIR

writes OUT_DIR/merge.json, then OUT_DIR/sam.json and OUT_DIR/deployment.zip.

Chalice generates the functions, their roles (one per function, because autogen_policy is
false), the API, the EventBridge rules and the schedule. The merge template adds what the app
uses: the tables (from the PynamoDB models, via infra.tables), the image-store bucket, the
node-agent queue, the state machines (statemachines/*.asl.json, verbatim) and IAM.

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

from chalicelib.api.http import NOT_FOUND_BODY
from chalicelib.domain import names
from chalicelib.domain.vocabulary import OPERATIONS

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
    roles = sorted(k for k, v in generated.items() if v["Type"] == "AWS::IAM::Role")
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
            "LifecycleConfiguration": {"Rules": [{
                "Id": "abort-incomplete-multipart-uploads", "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]},
        },
    }
    # Export requests go to one queue per compute node (`<prefix>-export-<node>`), created by
    # the app when it first sends to a node (or by `./imagectl node add`); what no agent takes
    # after 5 receives ends here. Requests are transient (each task times out): queues may go.
    resources["ExportDeadLetterQueue"] = {
        "Type": "AWS::SQS::Queue", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
        "Properties": {"QueueName": names.export_dead_letter_queue_name(prefix),
                       "SqsManagedSseEnabled": True,
                       "MessageRetentionPeriod": 14 * 24 * 3600},
    }
    export_queues = _sub("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"
                         f"{names.export_queue_prefix(prefix)}*")
    # For the compute nodes' agents (README "Snapshot export"): their own queue and nothing
    # else. A node's role or user carries the tag `imageapi-export-queue` = its queue's name.
    resources["NodeAgentPolicy"] = {
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

    step_arns = [{"Fn::GetAtt": [step_ids[name], "Arn"]} for name in sorted(step_ids)]
    resources["StateMachineRole"] = {
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

    table_arns: list[Any] = []
    for logical_id in sorted(tables):
        table_arns += [{"Fn::GetAtt": [logical_id, "Arn"]}, _sub(f"${{{logical_id}.Arn}}/index/*")]
    statements = [
        {"Sid": "Tables", "Effect": "Allow", "Resource": table_arns, "Action": [
            "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem", "dynamodb:Query", "dynamodb:Scan",
            "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable"]},
        # HeadObject = GetObject; multipart create/upload/complete = PutObject; presigned URLs
        # are signed with this role, so compute nodes get exactly these object rights.
        {"Sid": "StoreObjects", "Effect": "Allow", "Resource": _sub("${ImageStoreBucket.Arn}/*"),
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                    "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]},
        {"Sid": "StoreBucket", "Effect": "Allow",
         "Resource": {"Fn::GetAtt": ["ImageStoreBucket", "Arn"]},
         "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"]},
        {"Sid": "StartWorkflows", "Effect": "Allow", "Action": "states:StartExecution",
         "Resource": [{"Ref": machine_id(op)} for op in OPERATIONS]},
        {"Sid": "WatchWorkflows", "Effect": "Allow",
         "Action": ["states:DescribeExecution", "states:StopExecution"],
         "Resource": [_sub("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
                           ":execution:"
                           f"{names.state_machine_name(prefix, op)}:*") for op in OPERATIONS]},
        {"Sid": "TaskTokens", "Effect": "Allow", "Action": UNSCOPED_ACTIONS, "Resource": "*"},
        {"Sid": "ExportQueues", "Effect": "Allow", "Resource": export_queues,
         "Action": ["sqs:CreateQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes", "sqs:SendMessage"]},
    ]
    # One policy on every Chalice-generated role: the handlers share the service layer.
    resources["AppPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {"PolicyName": f"{prefix}-app", "Roles": [{"Ref": role} for role in roles],
                       "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}},
    }

    # Every function gets the deployment's names: config.json supplies what is known before
    # deploy (LOG_LEVEL, PLATFORM_EVENT_SOURCE, ...), the template what only CloudFormation
    # knows. Environment.Variables is a dict, so this merges with Chalice's values.
    env = {
        "IMAGE_API_TABLE_PREFIX": prefix,
        "IMAGE_STORE_BUCKET": {"Ref": "ImageStoreBucket"},
        "EXPORT_QUEUE_PREFIX": names.export_queue_prefix(prefix),
        "EXPORT_DEAD_LETTER_ARN": {"Fn::GetAtt": ["ExportDeadLetterQueue", "Arn"]},
        "NODE_TOKEN": {"Ref": "NodeToken"},
        **{names.state_machine_arn_variable(op): machine_arn(prefix, op) for op in OPERATIONS},
    }
    for logical_id in functions:
        patch: dict[str, Any] = {"Environment": {"Variables": env}}
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
            elif pattern.get("source") == ["aws.states"]:
                patch.setdefault("Events", {})[event_id] = {"Properties": {"Pattern": {
                    "detail": {"stateMachineArn": [machine_arn(prefix, op) for op in OPERATIONS]}}}}
        resources[logical_id] = {"Properties": patch}

    # Like the local stack: an unknown route is a 404 in the API's envelope, not API Gateway's
    # 403 "Missing Authentication Token".
    resources["RestAPI"] = {"Properties": {"GatewayResponses": {"MISSING_AUTHENTICATION_TOKEN": {
        "StatusCode": "404",
        # static values are quoted in API Gateway's mapping syntax
        "ResponseParameters": {"Headers": {
            name: f"'{value}'" for name, value in not_found_headers(stage).items()}},
        "ResponseTemplates": {"application/json": json.dumps(NOT_FOUND_BODY)}}}}}

    outputs = {
        "ImageStoreBucketName": {"Value": {"Ref": "ImageStoreBucket"}},
        "ExportDeadLetterQueueUrl": {"Value": {"Ref": "ExportDeadLetterQueue"}},
        "NodeAgentPolicyArn": {"Value": {"Ref": "NodeAgentPolicy"}},
        **{f"{machine_id(op)}Arn": {"Value": {"Ref": machine_id(op)}} for op in OPERATIONS},
    }
    parameters = {"NodeToken": {
        "Type": "String", "NoEcho": True, "Default": "",
        "Description": "Token compute nodes present to the API: to read the image source, and "
                       "with every export call (empty: API keys and export tokens only)"}}
    return {"Parameters": parameters, "Resources": resources, "Outputs": outputs}


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
