"""The deploy template (SPEC §12): `chalice package` + merge template, linted and inspected.

Building runs `python -m infra.template` in a child process, once per module. The first build on
a machine downloads the Lambda wheels from PyPI (about a minute); Chalice caches them in
.chalice/deployments/. Nothing here imports the app: this process's test session may import it
later with another table prefix.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib.domain.names import STATE_MACHINE_ARN_VARIABLES
from chalicelib.domain.names import state_machine_name as machine_name
from chalicelib.domain.vocabulary import OPERATIONS
from infra.template import UNSCOPED_ACTIONS, stage_tables

pytestmark = pytest.mark.package

ROOT = Path(__file__).resolve().parents[2]
STAGE, PREFIX = "prod", "imageapi-prod"
DATA_SERVICES = ("dynamodb", "s3", "states", "sqs", "ssm", "kms", "events")
# Every setting whose value only the deployment knows (chalicelib/config.py).
DEPLOYMENT_ENV = {"IMAGE_API_TABLE_PREFIX", "IMAGE_STORE_BUCKET", "EXPORT_QUEUE_PREFIX",
                  "EXPORT_DEAD_LETTER_ARN",
                  "PLATFORM_EVENT_SOURCE",
                  *STATE_MACHINE_ARN_VARIABLES}


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("package")
    subprocess.run([sys.executable, "-m", "infra.template", "--stage", STAGE, str(out)],
                   cwd=ROOT, check=True, timeout=280)
    return out


@pytest.fixture(scope="module")
def template(package) -> dict:
    return json.loads((package / "sam.json").read_text())


def _of_type(template: dict, kind: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def test_cfn_lint_passes(package):
    # Informational checks included: the template is clean at every level, nothing ignored.
    result = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), "--include-checks",
                             "I", "--", str(package / "sam.json")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tables_bucket_and_queues(template):
    expected = stage_tables(PREFIX)
    tables = _of_type(template, "AWS::DynamoDB::Table")
    assert set(tables) == set(expected)
    for logical_id, table in tables.items():
        props, model = table["Properties"], expected[logical_id]["Properties"]
        assert props["TableName"] == model["TableName"]
        assert props["TableName"].startswith(PREFIX + "-")
        assert {i["IndexName"] for i in props.get("GlobalSecondaryIndexes", [])} == \
            {i["IndexName"] for i in model.get("GlobalSecondaryIndexes", [])}
        assert props.get("TimeToLiveSpecification") == model.get("TimeToLiveSpecification")

    bucket = _of_type(template, "AWS::S3::Bucket")["ImageStoreBucket"]["Properties"]
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert {"DaysAfterInitiation": 2} in [
        rule.get("AbortIncompleteMultipartUpload")
        for rule in bucket["LifecycleConfiguration"]["Rules"]]

    queues = _of_type(template, "AWS::SQS::Queue")
    # node queues are made by the app (one per compute node); the template has their DLQ and
    # the one of the events that failed every retry
    assert set(queues) == {"ExportDeadLetterQueue", "FailedEventQueue"}
    assert queues["ExportDeadLetterQueue"]["Properties"]["QueueName"] == f"{PREFIX}-exports-dlq"
    [agent_statement] = template["Resources"]["NodeAgentPolicy"]["Properties"][
        "PolicyDocument"]["Statement"]
    assert set(agent_statement["Action"]) == {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility",
                                              "sqs:DeleteMessage", "sqs:GetQueueUrl"}
    assert agent_statement["Resource"]["Fn::Sub"].endswith(
        ":${!aws:PrincipalTag/imageapi-export-queue}")


def test_rules_schedule_and_gateway_responses(template):
    functions = _of_type(template, "AWS::Serverless::Function")
    events = {name: next(iter(functions[name]["Properties"]["Events"].values()))
              for name in ("OnPlatformEvent", "OnExecutionStatus", "OnUploadCreated", "OnCleanup")}
    assert events["OnCleanup"] == {"Type": "Schedule",
                                   "Properties": {"Schedule": "rate(15 minutes)"}}
    patterns = {name: event["Properties"]["Pattern"] for name, event in events.items()
                if event["Type"] == "CloudWatchEvent"}
    assert patterns["OnPlatformEvent"] == {"source": ["danube.platform"]}
    # The S3 rule names the bucket of this stack, not the placeholder of the packaging process.
    assert patterns["OnUploadCreated"]["detail"] == {
        "bucket": {"name": [{"Ref": "ImageStoreBucket"}]},
        "object": {"key": [{"prefix": "uploads/"}]}}
    status = patterns["OnExecutionStatus"]
    assert status["source"] == ["aws.states"]
    assert [arn["Fn::Sub"].rsplit(":", 1)[1] for arn in status["detail"]["stateMachineArn"]] == \
        [machine_name(PREFIX, op) for op in OPERATIONS]

    api = template["Resources"]["RestAPI"]["Properties"]
    missing = api["GatewayResponses"]["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404"
    assert json.loads(missing["ResponseTemplates"]["application/json"]) == {"detail": "Not found"}


def test_state_machines_are_the_asl_files(template):
    functions = _of_type(template, "AWS::Serverless::Function")
    machines = _of_type(template, "AWS::StepFunctions::StateMachine")
    assert len(machines) == len(OPERATIONS)
    invokable = set()
    for statement in template["Resources"]["StateMachineRole"]["Properties"]["Policies"][0][
            "PolicyDocument"]["Statement"]:
        invokable |= {arn["Fn::GetAtt"][0] for arn in statement["Resource"]}
    for op in OPERATIONS:
        props = machines[f"{op.capitalize()}StateMachine"]["Properties"]
        text = (ROOT / "statemachines" / f"{op}.asl.json").read_text()
        assert props["DefinitionString"] == text
        assert props["StateMachineName"] == machine_name(PREFIX, op)
        placeholders = set(re.findall(r"\$\{(\w+)\}", text))
        assert set(props["DefinitionSubstitutions"]) == placeholders
        for name, value in props["DefinitionSubstitutions"].items():
            assert value == {"Fn::GetAtt": [_camel(name), "Arn"]}
            assert _camel(name) in functions
            assert _camel(name) in invokable
    # The state machines may invoke their steps and nothing else.
    assert invokable == {_camel(name) for op in OPERATIONS
                         for name in re.findall(
                             r"\$\{(\w+)\}",
                             (ROOT / "statemachines" / f"{op}.asl.json").read_text())}
    big = {"StepImportFile", "StepIngestUpload"}
    for name in big:
        assert functions[name]["Properties"]["Timeout"] == 900
        assert functions[name]["Properties"]["MemorySize"] == 1024


def _statements(template: dict):
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy":
            documents = [props["PolicyDocument"]]
        elif resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        else:
            continue
        for document in documents:
            for statement in document["Statement"]:
                yield logical_id, _unless_condition(statement)


def _unless_condition(statement: dict) -> dict:
    """A statement under a template condition ({"Fn::If": [cond, statement, NoValue]})."""
    if "Fn::If" in statement:
        _, statement, otherwise = statement["Fn::If"]
        assert otherwise == {"Ref": "AWS::NoValue"}
    return statement


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_no_data_action_on_every_resource(template):
    checked = 0
    for logical_id, statement in _statements(template):
        actions = _as_list(statement["Action"])
        data = [a for a in actions if a.split(":")[0] in DATA_SERVICES]
        checked += len(data)
        assert "*" not in [a.split(":")[1] for a in data], (logical_id, statement)
        if "*" in _as_list(statement.get("Resource")):
            # Only the task-token actions, which support no resource-level permissions at all
            # (see infra.template.UNSCOPED_ACTIONS), may name "*".
            assert set(data) <= set(UNSCOPED_ACTIONS), (logical_id, statement)
    assert checked > 0


def _function_statements(template: dict) -> dict[str, list[dict]]:
    """Function -> every statement its role carries: the role's own policies (Chalice's logs)
    and each AWS::IAM::Policy attached to it."""
    functions = _of_type(template, "AWS::Serverless::Function")
    role_of = {name: fn["Properties"]["Role"]["Fn::GetAtt"][0] for name, fn in functions.items()}
    attached: dict[str, list[dict]] = {role: [] for role in role_of.values()}
    for role, resource in _of_type(template, "AWS::IAM::Role").items():
        for policy in resource["Properties"].get("Policies", []):
            attached.setdefault(role, []).extend(policy["PolicyDocument"]["Statement"])
    for policy in _of_type(template, "AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            attached.setdefault(role["Ref"], []).extend(
                policy["Properties"]["PolicyDocument"]["Statement"])
    return {name: [_unless_condition(s) for s in attached[role]]
            for name, role in role_of.items()}


def _actions(statements: list[dict], service: str) -> set[str]:
    return {action for s in statements for action in _as_list(s["Action"])
            if action.startswith(service + ":")}


def _table_access(template: dict, statements: list[dict]) -> dict[str, str]:
    """{"users": "r", "users/key-hash-index": "r", "tasks": "rw", ...}: what a function may do
    to each table and index, named one by one (a wildcard fails here)."""
    short = {logical_id: table["Properties"]["TableName"].removeprefix(PREFIX + "-")
             for logical_id, table in _of_type(template, "AWS::DynamoDB::Table").items()}
    found: dict[str, set[str]] = {}
    for statement in statements:
        actions = _actions([statement], "dynamodb")
        if not actions:
            continue
        assert statement["Effect"] == "Allow" and "Condition" not in statement, statement
        for resource in _as_list(statement["Resource"]):
            if "Fn::GetAtt" in resource:
                logical_id, attribute = resource["Fn::GetAtt"]
                assert attribute == "Arn", resource
                name = short[logical_id]
            else:
                match = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/([A-Za-z0-9_.-]+)",
                                     resource["Fn::Sub"])
                assert match, f"not one table or index: {resource}"
                name = f"{short[match[1]]}/{match[2]}"
            found.setdefault(name, set()).update(actions)
    for name, actions in found.items():
        assert actions <= TABLE_READS | TABLE_WRITES, (name, actions - TABLE_READS - TABLE_WRITES)
    return {name: ("r" if actions & TABLE_READS else "") + ("w" if actions & TABLE_WRITES else "")
            for name, actions in found.items()}


def _object_access(statements: list[dict]) -> dict[str, str]:
    """{"images/*/*": "GPD", ...}: store key patterns and what a function may do to them."""
    found: dict[str, set[str]] = {}
    for statement in statements:
        actions = _actions([statement], "s3") - BUCKET_ACTIONS
        if not actions:
            continue
        assert statement["Effect"] == "Allow", statement
        for resource in _as_list(statement["Resource"]):
            pattern = resource["Fn::Sub"]
            assert pattern.startswith("${ImageStoreBucket.Arn}/"), resource
            found.setdefault(pattern.removeprefix("${ImageStoreBucket.Arn}/"), set()).update(
                actions)
    return {pattern: "".join(letter for letter, action in OBJECT_LETTERS.items()
                             if action in actions) for pattern, actions in found.items()}


# ConditionCheckItem: a transaction's condition on an item it does not write (a read)
TABLE_READS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
               "dynamodb:ConditionCheckItem"}
TABLE_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem"}
# Ending a task: the image transaction, the task and its log entry (no users: a callback is
# announced by an event, and OnTaskEnded reads the callback key).
ENDING = {"images": "rw", "guards": "w", "dcs": "w", "snapshots": "w", "tasks": "rw",
          "tasklog": "w"}
STEP = {"images": "r", "tasks": "rw"}
EXPECTED_TABLES = {
    "APIHandler": {"images": "rw", "images/uuid-index": "r", "guards": "rw", "users": "rw",
                   # the catalogue's walks (issue 17) and the VMs using an image
                   **{f"images/{index}": "r" for index in (
                       "catalogue-name-index", "catalogue-created-index", "dc-name-index",
                       "dc-created-index", "servable-index")},
                   "image-uses": "r",
                   "users/key-hash-index": "r", "logins": "rw", "dcs": "rw", "vms": "r",
                   "vms/hostname-index": "r", "snapshots": "rw", "tasks": "rw",
                   "tasks/pending-user-index": "r", "tasklog": "rw"},
    "StepImportFile": {**STEP, "images/file-index": "r"},
    "StepWriteManifest": STEP, "StepDeleteObjects": STEP, "StepRequestExport": STEP,
    "StepIngestUpload": STEP, "StepAwaitUpload": STEP,
    "StepFinish": ENDING, "StepRollback": ENDING, "OnExecutionStatus": ENDING,
    "OnCleanup": {**ENDING, "tasks/pending-index": "r", "tasks/ended-transfer-index": "r",
                  "tasklog": "rw", "guards": "rw", "images/pending-image-index": "r"},
    "OnPlatformEvent": {"vms": "rw", "snapshots": "w", "users": "w", "dcs": "w",
                        "image-uses": "w"},
    "OnUploadCreated": {"tasks": "r"},
    "OnTaskEnded": {"tasks": "rw", "users": "rw"},
}
# G GetObject (also HEAD, presigned GET, copy source), P PutObject (also multipart, presigned
# part PUT), D DeleteObject, A AbortMultipartUpload, L ListMultipartUploadParts
OBJECT_LETTERS = {"G": "s3:GetObject", "P": "s3:PutObject", "D": "s3:DeleteObject",
                  "A": "s3:AbortMultipartUpload", "L": "s3:ListMultipartUploadParts"}
BUCKET_ACTIONS = {"s3:ListBucket", "s3:ListBucketMultipartUploads"}
IMAGES, UPLOADS = "images/*/*", "uploads/*"
ROLLBACK = {IMAGES: "GPDA", UPLOADS: "DA"}
EXPECTED_OBJECTS = {
    "APIHandler": {IMAGES: "GPDA", UPLOADS: "GPDAL"},
    "StepImportFile": {IMAGES: "GPDAL"},
    "StepWriteManifest": {IMAGES: "GP"},
    "StepDeleteObjects": {IMAGES: "DA"},
    "StepRequestExport": {UPLOADS: "P"},
    "StepIngestUpload": {IMAGES: "PDAL", UPLOADS: "GD"},
    "StepAwaitUpload": {UPLOADS: "G"},        # an upload completed before its wait began
    "StepFinish": {},
    "StepRollback": ROLLBACK, "OnExecutionStatus": ROLLBACK,
    "OnCleanup": {IMAGES: "GP", "*": "DA"},   # orphans and stale uploads are anywhere
    "OnPlatformEvent": {}, "OnTaskEnded": {},
    "OnUploadCreated": {UPLOADS: "G"},        # it resumes the wait only for an upload it sees
}
ANNOUNCE = {"events:PutEvents"}  # whoever ends tasks announces callbacks
# L ListBucket (HeadObject of a missing key is a 404, not a 403), U ListBucketMultipartUploads
EXPECTED_BUCKET = {"APIHandler": "LU", "StepImportFile": "U", "StepWriteManifest": "L",
                   "StepDeleteObjects": "U", "StepIngestUpload": "LU", "StepRollback": "LU",
                   "OnExecutionStatus": "LU", "OnCleanup": "LU", "OnUploadCreated": "L",
                   "StepAwaitUpload": "L"}
EXPECTED_OTHERS = {  # Step Functions, SQS, EventBridge, SSM and KMS
    "APIHandler": {"states:StartExecution", "states:StopExecution", "states:SendTaskHeartbeat",
                   "states:SendTaskFailure", "ssm:GetParameter", "kms:Decrypt", *ANNOUNCE},
    "StepRequestExport": {"sqs:CreateQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
                          "sqs:SetQueueAttributes", "sqs:SendMessage"},
    "StepFinish": ANNOUNCE, "StepRollback": ANNOUNCE,
    # it ends a task only for an execution DescribeExecution confirms has ended
    "OnExecutionStatus": {"states:DescribeExecution", *ANNOUNCE},
    "OnUploadCreated": {"states:SendTaskSuccess"},
    "StepAwaitUpload": {"states:SendTaskSuccess"},
    "OnCleanup": {"states:DescribeExecution", "states:StopExecution", *ANNOUNCE},
}


def test_each_function_role_has_a_policy_of_its_own(template):
    functions = _of_type(template, "AWS::Serverless::Function")
    roles = [fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in functions.values()]
    assert len(set(roles)) == len(roles) == len(EXPECTED_TABLES)
    assert set(functions) == set(EXPECTED_TABLES)
    for name, policy in _of_type(template, "AWS::IAM::Policy").items():
        # one role each: no policy hands one function's rights to another
        assert len(policy["Properties"]["Roles"]) == 1, name
    attached = [p["Properties"]["Roles"][0]["Ref"]
                for p in _of_type(template, "AWS::IAM::Policy").values()]
    assert sorted(attached) == sorted(roles)


def test_table_access_function_by_function(template):
    statements = _function_statements(template)
    access = {name: _table_access(template, statements[name]) for name in statements}
    assert access == EXPECTED_TABLES

    # The steps that take in what others supplied (a file from any URL, a node's upload)
    # reach only their task and image records: no users, no guards, no DCs, no task log.
    for name in ("StepImportFile", "StepIngestUpload"):
        assert set(access[name]) <= {"images", "images/file-index", "tasks"}, name
        assert access[name]["images"] == "r"
    # Who may touch the users table (API key hashes): the API (keys by hash, which only it
    # may query; logins update their user), the platform's events, and the callback sender
    # (reads and makes a callback key). Nobody else; and nobody creates or removes users
    # (the operator CLI does, with the operator's credentials).
    users = {name: tables["users"] for name, tables in access.items() if "users" in tables}
    assert users == {"APIHandler": "rw", "OnPlatformEvent": "w", "OnTaskEnded": "rw"}
    assert {name for name, tables in access.items() if "users/key-hash-index" in tables} == \
        {"APIHandler"}
    for name in users:
        on_users = [s for s in statements[name] if "users" in _table_access(template, [s])]
        # a Scan only for the API: a SuperAdmin's GET /accounts/user and the last-SuperAdmin
        # rule of a deactivation (issue 21), both projected to fields that are no secret; the
        # rule's transaction checks the other SuperAdmin it keeps (ConditionCheckItem)
        listing = {"dynamodb:Scan", "dynamodb:ConditionCheckItem"} \
            if name == "APIHandler" else set()
        assert _actions(on_users, "dynamodb") <= {"dynamodb:GetItem", "dynamodb:Query",
                                                  "dynamodb:UpdateItem", *listing}, name
    # events update read models; a VM's image uses are put and removed with it, after the
    # VM is read (issue 17: the VM's version conditions the transaction)
    assert _actions(statements["OnPlatformEvent"], "dynamodb") == {
        "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}
    uses_only = [s for s in statements["OnPlatformEvent"]
                 if set(_table_access(template, [s])) == {"image-uses"}]
    assert _actions(uses_only, "dynamodb") == {"dynamodb:PutItem", "dynamodb:DeleteItem"}


def test_store_and_other_access_function_by_function(template):
    statements = _function_statements(template)
    objects = {name: _object_access(statements[name]) for name in statements}
    assert objects == EXPECTED_OBJECTS
    bucket = {name: "".join(letter for letter, action in (("L", "s3:ListBucket"),
                                                          ("U", "s3:ListBucketMultipartUploads"))
                            if action in _actions(found, "s3"))
              for name, found in statements.items()}
    assert {name: letters for name, letters in bucket.items() if letters} == EXPECTED_BUCKET
    for name, found in statements.items():
        others = set().union(*(_actions(found, service) for service in
                               ("states", "sqs", "events", "ssm", "kms")))
        assert others == EXPECTED_OTHERS.get(name, set()), name
        # the bucket's own actions only on the bucket, and only with object access
        for statement in found:
            if _actions([statement], "s3") & BUCKET_ACTIONS:
                assert _actions([statement], "s3") <= BUCKET_ACTIONS
                assert statement["Resource"] == {"Fn::GetAtt": ["ImageStoreBucket", "Arn"]}
                assert objects[name], name


def test_node_token_is_an_ssm_parameter_only_the_api_reads(template):
    parameters = template["Parameters"]
    assert "NodeToken" not in parameters
    assert parameters["NodeTokenParameter"]["Type"] == "String"
    assert parameters["NodeTokenParameter"]["Default"] == f"/{PREFIX}/node-token"
    functions = _of_type(template, "AWS::Serverless::Function")
    holders = {name for name, fn in functions.items()
               if "NODE_TOKEN_PARAMETER" in fn["Properties"]["Environment"]["Variables"]}
    assert holders == {"APIHandler"}
    env = functions["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert env["NODE_TOKEN_PARAMETER"] == {"Ref": "NodeTokenParameter"}

    policy = template["Resources"]["APIHandlerPolicy"]["Properties"]["PolicyDocument"]
    conditional = [s["Fn::If"] for s in policy["Statement"] if "Fn::If" in s]
    assert {branch[0] for branch in conditional} == {"HasNodeTokenParameter"}
    by_action = {branch[1]["Action"]: branch[1] for branch in conditional}
    parameter_arn = {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:"
                                "parameter${NodeTokenParameter}"}
    assert by_action["ssm:GetParameter"]["Resource"] == parameter_arn
    decrypt = by_action["kms:Decrypt"]["Condition"]["StringEquals"]
    assert decrypt["kms:ViaService"] == {"Fn::Sub": "ssm.${AWS::Region}.${AWS::URLSuffix}"}
    assert decrypt["kms:EncryptionContext:PARAMETER_ARN"] == parameter_arn
    assert template["Conditions"]["HasNodeTokenParameter"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NodeTokenParameter"}, ""]}]}


def test_api_stage_throttling(template):
    parameters = template["Parameters"]
    assert parameters["ApiThrottleRateLimit"]["Type"] == "Number"
    assert parameters["ApiThrottleRateLimit"]["Default"] == 100
    assert parameters["ApiThrottleBurstLimit"]["Type"] == "Number"
    assert parameters["ApiThrottleBurstLimit"]["Default"] == 200
    api = template["Resources"]["RestAPI"]["Properties"]
    [every_method] = api["MethodSettings"]
    assert every_method == {"ResourcePath": "/*", "HttpMethod": "*",
                            "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
                            "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"}}
    # a throttled request is answered in the API's envelope, as the app answers its own 429
    throttled = api["GatewayResponses"]["THROTTLED"]
    assert throttled["StatusCode"] == "429"
    assert json.loads(throttled["ResponseTemplates"]["application/json"]) == {
        "detail": "Request was throttled."}
    assert throttled["ResponseParameters"] == \
        api["GatewayResponses"]["MISSING_AUTHENTICATION_TOKEN"]["ResponseParameters"]


def test_callbacks_are_announced_by_one_kind_of_event(template):
    announcing = set()
    for name, found in _function_statements(template).items():
        for statement in found:
            if _actions([statement], "events"):
                announcing.add(name)
                assert _actions([statement], "events") == ANNOUNCE
                assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:events:"
                                                 "${AWS::Region}:${AWS::AccountId}:"
                                                 "event-bus/default"}, name
                assert statement["Condition"] == {"StringEquals": {
                    "events:source": "imageapi.tasks", "events:detail-type": "Task Ended"}}
    # whoever ends tasks (services.tasks.ending), and nobody else
    assert announcing == {"APIHandler", "StepFinish", "StepRollback", "OnExecutionStatus",
                          "OnCleanup"}


def test_store_refuses_plain_http_and_old_signatures(template):
    policies = _of_type(template, "AWS::S3::BucketPolicy")
    [policy] = [p["Properties"] for p in policies.values()
                if p["Properties"]["Bucket"] == {"Ref": "ImageStoreBucket"}]
    statements = policy["PolicyDocument"]["Statement"]
    everything = [{"Fn::GetAtt": ["ImageStoreBucket", "Arn"]},
                  {"Fn::Sub": "${ImageStoreBucket.Arn}/*"}]
    denials = {json.dumps(s["Condition"], sort_keys=True): s for s in statements
               if s["Effect"] == "Deny"}
    insecure = denials[json.dumps({"Bool": {"aws:SecureTransport": "false"}})]
    sigv2 = denials[json.dumps({"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}})]
    for statement in (insecure, sigv2):
        assert statement["Principal"] == "*" and statement["Action"] == "s3:*"
        assert statement["Resource"] == everything
    # grants nothing to anyone but the IMGAPI distribution (test_imgapi_distribution_...)
    allowed = [s for s in statements if s["Effect"] != "Deny"]
    assert allowed and all(s["Principal"] == {"Service": "cloudfront.amazonaws.com"}
                           and "AWS:SourceArn" in s["Condition"]["StringEquals"]
                           for s in allowed)

def test_every_function_has_the_deployment_environment(template):
    functions = _of_type(template, "AWS::Serverless::Function")
    assert len(functions) >= 12
    for logical_id, function in functions.items():
        env = function["Properties"]["Environment"]["Variables"]
        assert set(env) >= DEPLOYMENT_ENV, (logical_id, DEPLOYMENT_ENV - set(env))
        assert env["IMAGE_API_TABLE_PREFIX"] == PREFIX
        assert env["IMAGE_STORE_BUCKET"] == {"Ref": "ImageStoreBucket"}
        assert env["EXPORT_QUEUE_PREFIX"] == f"{PREFIX}-export-"
        assert env["EXPORT_DEAD_LETTER_ARN"] == {"Fn::GetAtt": ["ExportDeadLetterQueue", "Arn"]}
        for op in OPERATIONS:
            arn = env[f"STATE_MACHINE_{op.upper()}_ARN"]["Fn::Sub"]
            assert arn.endswith(f":stateMachine:{machine_name(PREFIX, op)}")
        # the node token is no function's plain environment variable any more
        assert "NODE_TOKEN" not in env, logical_id


PING = r"""
import json, sys
sys.path[:0] = [sys.argv[1]]
from app import app
import chalice, pynamodb
assert all(m.__file__.startswith(sys.argv[1]) for m in (chalice, pynamodb)), "not from the zip"
event = {
    "resource": "/ping", "path": "/ping", "httpMethod": "GET", "headers": {},
    "multiValueHeaders": {}, "queryStringParameters": None,
    "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
    "requestContext": {"resourcePath": "/ping", "httpMethod": "GET", "path": "/api/ping",
                       "stage": "api", "requestId": "test", "identity": {"sourceIp": "127.0.0.1"}},
    "body": None, "isBase64Encoded": False,
}
# the transfer steps' resumable SHA-1 and SHA-256 work with what the bundle and runtime bring
from chalicelib.adapters import resumable_digest
assert resumable_digest.available(), "no resumable digests in the bundle's environment"
for kind, abc in ((resumable_digest.ResumableSha1, resumable_digest.SHA1.abc),
                  (resumable_digest.ResumableSha256, resumable_digest.SHA256.abc)):
    hasher = kind()
    hasher.update(b"abc")
    assert kind(hasher.state()).hexdigest() == abc
# signed manifests: the bundle's own cryptography checks Ed25519 (RFC 8032, test 1)
import cryptography
from chalicelib.adapters import ed25519
assert cryptography.__file__.startswith(sys.argv[1]), "cryptography not from the zip"
assert ed25519.verify(bytes.fromhex(
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"), b"")
print(json.dumps(app(event, None)))
"""


def test_deployment_zip_answers_ping_on_its_own(package, tmp_path):
    with zipfile.ZipFile(package / "deployment.zip") as archive:
        archive.extractall(tmp_path)
        shipped = {name.split("/")[0] for name in archive.namelist()}
    # the compute nodes' agent, the local stack and the tests are never deployed
    assert not shipped & {"nodeagent", "devstack", "tests", "bench", "cli", "infra"}
    # -I: no PYTHON* variables, no user site, no script directory; -S: no site-packages.
    # The extracted package is the only import source besides the standard library.
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "IMAGE_API_TABLE_PREFIX": PREFIX,
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", PING, str(tmp_path)], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["result"] == "pong"


def test_platform_events_have_their_own_guarded_bus(template):
    """A forged "User State" on the default bus is not heard (issue 9.3)."""
    resources = template["Resources"]
    assert resources["PlatformEventBus"]["Properties"]["Name"] == f"{PREFIX}-platform"
    event = next(iter(resources["OnPlatformEvent"]["Properties"]["Events"].values()))
    assert event["Properties"]["EventBusName"] == {"Ref": "PlatformEventBus"}
    others = [fn for name, fn in _of_type(template, "AWS::Serverless::Function").items()
              if name != "OnPlatformEvent"]
    assert all("EventBusName" not in event["Properties"]
               for fn in others for event in fn["Properties"].get("Events", {}).values())
    allow = resources["PlatformEventBusAllowPublishers"]["Properties"]["Statement"]
    deny = resources["PlatformEventBusDenyOthers"]["Properties"]["Statement"]
    assert allow["Principal"] == {"AWS": {"Ref": "PlatformEventPrincipals"}}
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "events:PutEvents")
    assert deny["Condition"] == {"StringNotLike": {
        "aws:PrincipalArn": {"Ref": "PlatformEventPrincipals"}}}
    assert template["Parameters"]["PlatformEventPrincipals"]["Type"] == "CommaDelimitedList"


# --- observability (issue 10.6): JSON logs, alarms, the dashboard --------------------------------

def test_every_function_logs_json(template):
    functions = _of_type(template, "AWS::Serverless::Function")
    for logical_id, function in functions.items():
        props = function["Properties"]
        assert props["LoggingConfig"] == {"LogFormat": "JSON",
                                          "LogGroup": {"Ref": f"{logical_id}LogGroup"}}, logical_id
        assert props["Environment"]["Variables"]["LOG_FORMAT"] == "json", logical_id


def _alarms(template: dict) -> dict:
    return {k: v["Properties"] for k, v in _of_type(template, "AWS::CloudWatch::Alarm").items()}


def _metric_of(alarm: dict) -> tuple[str, str, dict]:
    return alarm["Namespace"], alarm["MetricName"], {
        d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}


def test_alarms_on_workflows_queue_deadline_api_and_throttles(template):
    alarms = _alarms(template)
    for op in OPERATIONS:
        machine = {"StateMachineArn": {"Ref": f"{op.capitalize()}StateMachine"}}
        failed = alarms[f"{op.capitalize()}StateMachineFailedAlarm"]
        assert _metric_of(failed) == ("AWS/States", "ExecutionsFailed", machine)
        assert failed["Threshold"] == {"Ref": "ExecutionsFailedAlarmThreshold"}
        timed_out = alarms[f"{op.capitalize()}StateMachineTimedOutAlarm"]
        assert _metric_of(timed_out) == ("AWS/States", "ExecutionsTimedOut", machine)
        assert timed_out["Threshold"] == 0
    assert _metric_of(alarms["ExportDeadLetterQueueAlarm"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible",
        {"QueueName": {"Fn::GetAtt": ["ExportDeadLetterQueue", "QueueName"]}})
    assert _metric_of(alarms["TasksPastDeadlineAlarm"]) == ("imageapi", "TasksPastDeadline", {})
    # the cleanup reports every 15 minutes: one period holds one report
    assert alarms["TasksPastDeadlineAlarm"]["Period"] == 900
    assert _metric_of(alarms["Api5xxAlarm"]) == (
        "AWS/ApiGateway", "5XXError", {"ApiName": "imageapi", "Stage": "api"})
    # Lambda throttles of every function, summed by metric math (at most 10 metrics an alarm)
    throttled = set()
    for name, alarm in alarms.items():
        if not name.startswith("Throttles"):
            continue
        reads = [m for m in alarm["Metrics"] if "MetricStat" in m]
        [total] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
        assert len(alarm["Metrics"]) <= 10
        assert total["Expression"] == "SUM([" + ",".join(m["Id"] for m in reads) + "])"
        for read in reads:
            metric = read["MetricStat"]["Metric"]
            assert (metric["Namespace"], metric["MetricName"]) == ("AWS/Lambda", "Throttles")
            [dimension] = metric["Dimensions"]
            assert dimension["Name"] == "FunctionName"
            throttled.add(dimension["Value"]["Ref"])
    assert throttled == set(_of_type(template, "AWS::Serverless::Function"))
    for name, alarm in alarms.items():
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_alarms_notify_the_topic_only_when_one_is_given(template):
    parameter = template["Parameters"]["AlarmTopicArn"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(parameter["AllowedPattern"],
                        "arn:aws:sns:eu-west-1:123456789012:imageapi-alarms")
    assert not re.fullmatch(parameter["AllowedPattern"], "imageapi-alarms")
    assert template["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    alarms = _alarms(template)
    assert len(alarms) >= 2 * len(OPERATIONS) + 3 + 1
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == topic, name
        assert alarm["OKActions"] == topic, name


def test_the_dashboard_shows_the_alarmed_and_the_apps_metrics(template):
    [dashboard] = _of_type(template, "AWS::CloudWatch::Dashboard").values()
    body_text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    placeholders = set(re.findall(r"\$\{([^}]+)\}", body_text))
    resources = template["Resources"]
    for placeholder in placeholders:  # every ${...} is a pseudo parameter or a resource here
        name = placeholder.split(".")[0]
        assert name.startswith("AWS::") or name in resources, placeholder
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", body_text))
    text = json.dumps(body)
    for widget in body["widgets"]:
        assert widget["type"] == "metric" and widget["properties"]["metrics"]
    for metric in ("Tasks", "BytesTransferred", "TransferRate", "StepRetries",
                   "AuthenticationFailures", "PlatformEventsDropped", "TasksPastDeadline",
                   "ExecutionsFailed", "ExecutionsTimedOut", "ApproximateNumberOfMessagesVisible",
                   "5XXError", "Throttles"):
        assert f'"{metric}' in text or f'\\"{metric}\\"' in text, metric
    assert "${ExportDeadLetterQueue.QueueName}" in body_text
    for op in OPERATIONS:
        assert f"${{{op.capitalize()}StateMachine}}" in body_text


def test_metrics_need_no_new_rights(template):
    """EMF lines are stdout: no function may call CloudWatch."""
    for name, statements in _function_statements(template).items():
        assert not _actions(statements, "cloudwatch"), name


# The bucket policy's SigV4-only Deny covers "s3:*" (the pattern AWS documents); two actions
# of s3:* know no s3:signatureversion key, and a negated condition without its key still
# denies, so they are denied too, as meant.
BUCKET_POLICY_S3_STAR = {("ImageStoreBucketPolicy", ("UNKNOWN_CONDITION_FOR_ACTION", action))
                         for action in ("s3:InitiateReplication",
                                        "s3:PutAccessPointPublicAccessBlock")}


def test_every_iam_document_lints_clean(template):
    """parliament over every policy of sam.json (the functions', the state-machine role's,
    NodeAgentPolicy, Chalice's own), resolved to one concrete account: it needs ARNs."""
    from devstack.iam.intrinsics import Stack
    from tests.integration.policy_lint import findings
    resources = template["Resources"]
    stack = Stack(refs={**{name: str(spec.get("Default", "/imageapi-prod/node-token"))
                           for name, spec in template["Parameters"].items()},
                        **{logical_id: _ref(logical_id, res) for logical_id, res in
                           resources.items()},
                        "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
                        "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"},
                  arns={logical_id: _arn(logical_id, res) for logical_id, res in resources.items()},
                  conditions=dict.fromkeys(template.get("Conditions", {}), True))
    problems = {}
    for logical_id, res in resources.items():
        props = res.get("Properties", {})
        documents = [props["PolicyDocument"]] if "PolicyDocument" in props else \
            [policy["PolicyDocument"] for policy in props.get("Policies", [])
             if res["Type"] == "AWS::IAM::Role"]
        for document in documents:
            found = [f for f in findings(stack.resolve(document)["Statement"],
                                         {"imageapi-export-queue": "imageapi-prod-export-node1"})
                     if (logical_id, f) not in BUCKET_POLICY_S3_STAR]
            if found:
                problems[logical_id] = found
    assert problems == {}


def _ref(logical_id: str, res: dict) -> str:
    props = res.get("Properties", {})
    if res["Type"] == "AWS::StepFunctions::StateMachine":
        return f"arn:aws:states:us-east-1:123456789012:stateMachine:{logical_id}"
    return str(props.get("TableName") or props.get("QueueName") or logical_id)


def _arn(logical_id: str, res: dict) -> str:
    name = _ref(logical_id, res)
    return {"AWS::DynamoDB::Table": f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{logical_id.lower()}",
            "AWS::Serverless::Function":
                f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}",
            "AWS::SQS::Queue": f"arn:aws:sqs:us-east-1:123456789012:{name}",
            "AWS::Events::EventBus": f"arn:aws:events:us-east-1:123456789012:event-bus/{name}",
            }.get(res["Type"], f"arn:aws:iam::123456789012:role/{logical_id}")


def test_imgapi_distribution_store_via_oac_api_for_json_token_checked_at_the_edge(template):
    """SPEC §4.10 in AWS: files from the store through CloudFront (never through Lambda), the
    JSON paths from API Gateway, the node token checked by a CloudFront Function."""
    resources = template["Resources"]
    config = resources["ImgapiDistribution"]["Properties"]["DistributionConfig"]
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    store, api = origins["store"], origins["api"]
    assert store["DomainName"] == {"Fn::GetAtt": ["ImageStoreBucket", "RegionalDomainName"]}
    assert store["OriginAccessControlId"] == {"Fn::GetAtt": ["ImgapiStoreAccess", "Id"]}
    assert store["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not a legacy OAI
    oac = resources["ImgapiStoreAccess"]["Properties"]["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"],
            oac["SigningProtocol"]) == ("s3", "always", "sigv4")
    assert "${RestAPI}.execute-api." in api["DomainName"]["Fn::Sub"]
    assert api["OriginPath"] == "/api"  # `/imgapi/ping` reaches the Lambda route /imgapi/ping
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == "api"
    [files] = config["CacheBehaviors"]
    assert files["PathPattern"] == "imgapi/images/*/file" and files["TargetOriginId"] == "store"
    [check] = files["FunctionAssociations"]
    assert check == {"EventType": "viewer-request",
                     "FunctionARN": {"Fn::GetAtt": ["ImgapiTokenCheck", "FunctionARN"]}}
    function = resources["ImgapiTokenCheck"]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert function["FunctionConfig"]["KeyValueStoreAssociations"] == [
        {"KeyValueStoreARN": {"Fn::GetAtt": ["ImgapiTokenStore", "Arn"]}}]
    # the bucket stays private: one distribution may read image files, nobody else anything
    bucket = resources["ImageStoreBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    statements = resources["ImageStoreBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    [reads] = [s for s in statements if s["Effect"] == "Allow" and s["Action"] == "s3:GetObject"]
    assert reads["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert reads["Resource"] == {"Fn::Sub": "${ImageStoreBucket.Arn}/images/*"}
    assert reads["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"].endswith(
        ":distribution/${ImgapiDistribution}")
    assert "ImgapiUrl" in template["Outputs"]

# --- hardening (issue 18.10): logs, tracing, gateway responses, failed events, versions ---------

# every gateway response type API Gateway has (developer guide, "Gateway response types")
GATEWAY_RESPONSE_TYPES = {
    "ACCESS_DENIED": 403, "API_CONFIGURATION_ERROR": 500, "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500, "BAD_REQUEST_PARAMETERS": 400, "BAD_REQUEST_BODY": 400,
    "EXPIRED_TOKEN": 403, "INTEGRATION_FAILURE": 504, "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403, "INVALID_SIGNATURE": 403, "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429, "REQUEST_TOO_LARGE": 413, "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429, "UNAUTHORIZED": 401, "UNSUPPORTED_MEDIA_TYPE": 415, "WAF_FILTERED": 403}
ASYNC_FUNCTIONS = {"OnPlatformEvent", "OnExecutionStatus", "OnUploadCreated", "OnCleanup",
                   "OnTaskEnded"}


def _gateway_body(response: dict) -> dict:
    """The body a gateway response answers, with AWS's message for $context.error.messageString
    (the message as a quoted JSON string)."""
    template = response["ResponseTemplates"]["application/json"]
    return json.loads(template.replace("$context.error.messageString", '"Missing Token"'))


def test_every_gateway_response_is_a_detail_in_the_envelope(template):
    responses = template["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    envelope = responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseParameters"]
    assert envelope == {"Headers": {"es_version": envelope["Headers"]["es_version"],
                                    "es_dc": "'main'", "es_username": "''"}}
    # the fallbacks answer every type not named, keeping each type's own status
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        assert "StatusCode" not in responses[kind], kind
    assert set(responses) - {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(GATEWAY_RESPONSE_TYPES)
    for kind, response in responses.items():
        body = _gateway_body(response)
        assert list(body) == ["detail"] and isinstance(body["detail"], str), kind
        assert response["ResponseParameters"] == envelope, kind
    named = {kind: (response["StatusCode"], _gateway_body(response)["detail"])
             for kind, response in responses.items() if "StatusCode" in response}
    assert named == {"MISSING_AUTHENTICATION_TOKEN": ("404", "Not found"),
                     "THROTTLED": ("429", "Request was throttled."),
                     "REQUEST_TOO_LARGE": ("413", "Request Too Long"),
                     "INTEGRATION_TIMEOUT": ("504", "Endpoint request timed out")}


def test_log_groups_with_retention_for_functions_and_machines(template):
    resources = template["Resources"]
    retention = template["Parameters"]["LogRetentionDays"]
    assert retention["Type"] == "Number" and retention["Default"] == 30
    assert 30 in retention["AllowedValues"] and 3653 in retention["AllowedValues"]
    groups = _of_type(template, "AWS::Logs::LogGroup")
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    functions = _of_type(template, "AWS::Serverless::Function")
    for name in functions:
        assert groups[f"{name}LogGroup"]["Properties"]["LogGroupName"] == \
            f"/aws/lambda/{PREFIX}-{name}"
    machines = _of_type(template, "AWS::StepFunctions::StateMachine")
    for name, machine in machines.items():
        logging = machine["Properties"]["LoggingConfiguration"]
        assert logging["Level"] == "ERROR" and logging["IncludeExecutionData"] is False
        assert logging["Destinations"] == [{"CloudWatchLogsLogGroup": {
            "LogGroupArn": {"Fn::GetAtt": [f"{name}LogGroup", "Arn"]}}}]
        assert groups[f"{name}LogGroup"]["Properties"]["LogGroupName"].startswith(
            "/aws/vendedlogs/states/" + PREFIX)
    delivery = [s for p in resources["StateMachineRole"]["Properties"]["Policies"]
                for s in p["PolicyDocument"]["Statement"]
                if "logs:CreateLogDelivery" in s["Action"]]
    assert delivery and delivery[0]["Resource"] == "*"
    assert len(groups) == len(functions) + len(machines) + 1  # and the API's access log


def test_api_access_log_and_its_account_role(template):
    resources = template["Resources"]
    api = resources["RestAPI"]
    setting = api["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    line = json.loads(setting["Format"])
    assert {"requestId", "ip", "status", "resourcePath", "httpMethod"} <= set(line)
    assert "ApiGatewayAccount" in api["DependsOn"]
    account = resources["ApiGatewayAccount"]["Properties"]
    assert account["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    # the region's API Gateway logging role may be shared with other APIs: kept on delete
    assert resources["ApiGatewayCloudWatchRole"]["DeletionPolicy"] == "Retain"


def test_tracing_follows_one_parameter(template):
    resources = template["Resources"]
    parameter = template["Parameters"]["Tracing"]
    assert parameter["Default"] == "Active"
    assert set(parameter["AllowedValues"]) == {"Active", "PassThrough"}
    assert template["Conditions"]["TracingActive"] == {
        "Fn::Equals": [{"Ref": "Tracing"}, "Active"]}
    active = {"Fn::If": ["TracingActive", True, False]}
    write = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"}
    for name, function in _of_type(template, "AWS::Serverless::Function").items():
        assert function["Properties"]["Tracing"] == {"Ref": "Tracing"}, name
        role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        assert write in role["Properties"]["ManagedPolicyArns"], name
    for name, machine in _of_type(template, "AWS::StepFunctions::StateMachine").items():
        assert machine["Properties"]["TracingConfiguration"] == {"Enabled": active}, name
    assert write in resources["StateMachineRole"]["Properties"]["ManagedPolicyArns"]
    assert resources["RestAPI"]["Properties"]["TracingEnabled"] == active


def test_events_that_fail_every_retry_are_kept(template):
    """A platform event whose function fails every retry ends in the failed-event queue."""
    resources = template["Resources"]
    queue = resources["FailedEventQueue"]["Properties"]
    assert queue["QueueName"] == f"{PREFIX}-events-dlq"
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600 and queue["SqsManagedSseEnabled"]
    [send] = resources["FailedEventQueueSendPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (send["Action"], send["Resource"]) == (
        "sqs:SendMessage", {"Fn::GetAtt": ["FailedEventQueue", "Arn"]})
    with_queue = set()
    for name, function in _of_type(template, "AWS::Serverless::Function").items():
        props = function["Properties"]
        role = resources[props["Role"]["Fn::GetAtt"][0]]["Properties"]
        if "DeadLetterQueue" in props:
            with_queue.add(name)
            assert props["DeadLetterQueue"] == {
                "Type": "SQS", "TargetArn": {"Fn::GetAtt": ["FailedEventQueue", "Arn"]}}
            assert {"Ref": "FailedEventQueueSendPolicy"} in role["ManagedPolicyArns"], name
        else:
            assert {"Ref": "FailedEventQueueSendPolicy"} not in role["ManagedPolicyArns"], name
    assert with_queue == ASYNC_FUNCTIONS
    alarm = _alarms(template)["FailedEventQueueAlarm"]
    assert _metric_of(alarm) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible",
                                 {"QueueName": {"Fn::GetAtt": ["FailedEventQueue", "QueueName"]}})
    assert template["Outputs"]["FailedEventQueueUrl"] == {"Value": {"Ref": "FailedEventQueue"}}


def test_store_versions_expire_and_tables_recover_to_a_point_in_time(template):
    bucket = template["Resources"]["ImageStoreBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "NoncurrentVersionDays"}}
    assert rules["remove-expired-delete-markers"]["ExpiredObjectDeleteMarker"] is True
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 2}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    assert template["Parameters"]["NoncurrentVersionDays"]["Default"] == 30
    for name, table in _of_type(template, "AWS::DynamoDB::Table").items():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True}, name

# --- checkov (issue 18.10): every failed check is skipped with its reason ----------------------

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SKIPS = ROOT / "infra" / "checkov_skips.json"


def _checkov_failures(sam: Path) -> dict[str, set[str]]:
    """{check ID: logical IDs of the resources that fail it}, as a user running checkov on the
    package sees them (its own venv: requirements-checkov.txt says why)."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing: `make test` sets up .venv-checkov"
    result = subprocess.run([str(CHECKOV), "--file", str(sam), "--framework", "cloudformation",
                             "--output", "json", "--quiet", "--skip-download"],
                            capture_output=True, text=True, timeout=280)
    assert result.returncode in (0, 1), result.stderr  # 1: some check failed
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    assert report["summary"]["passed"] > 0
    failures: dict[str, set[str]] = {}
    for check in report["results"]["failed_checks"]:
        failures.setdefault(check["check_id"], set()).add(check["resource"].split(".", 1)[1])
    return failures


def test_checkov_finds_nothing_but_the_skips_and_their_reasons(package):
    skips = {check: entry for check, entry in json.loads(SKIPS.read_text()).items()
             if not check.startswith("_")}
    for check, entry in skips.items():
        assert len(entry["reason"]) > 40, check  # a reason, not a placeholder
    failures = _checkov_failures(package / "sam.json")
    unexplained = {check: resources for check, resources in failures.items()
                   if check not in skips or (skips[check]["resources"] != "*"
                                             and not resources <= set(skips[check]["resources"]))}
    assert not unexplained, f"checkov checks failed without a reason in {SKIPS}: {unexplained}"
    stale = set(skips) - set(failures)
    assert not stale, f"skipped in {SKIPS} but no longer failing: {stale}"


CONSOLE_PAGE = r"""
import json, sys
sys.path[:0] = [sys.argv[1]]
from app import app
answers = {}
for path, resource, params in (
        ("/api/console/", "/console", None),
        ("/api/console/js/app.js", "/console/js/{name}", {"name": "app.js"})):
    event = {
        "resource": resource, "path": path[4:], "httpMethod": "GET", "headers": {},
        "multiValueHeaders": {}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": params, "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": "GET", "path": path,
                           "stage": "api", "requestId": "test",
                           "identity": {"sourceIp": "127.0.0.1"}},
        "body": None, "isBase64Encoded": False,
    }
    answers[path] = app(event, None)
print(json.dumps(answers))
"""


def test_the_console_is_in_the_zip_and_served_from_it(package, tmp_path):
    """SPEC §13: the console's files ship with the app and the API function serves them,
    the page naming the stage's API base (computed from API Gateway's requestContext.path)."""
    from chalicelib.domain.console_files import FILES
    with zipfile.ZipFile(package / "deployment.zip") as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path)
    assert {f"chalicelib/console/{path}" for path in FILES} <= names
    env = {"AWS_DEFAULT_REGION": "us-east-1", "IMAGE_API_TABLE_PREFIX": PREFIX,
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", CONSOLE_PAGE, str(tmp_path)],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    page, module = answers["/api/console/"], answers["/api/console/js/app.js"]
    assert page["statusCode"] == 200 and module["statusCode"] == 200
    assert '<meta name="imageapi-base" content="/api/">' in page["body"]
    assert page["headers"]["Content-Security-Policy"].startswith("default-src 'none'")
    assert module["headers"]["Content-Type"] == FILES["js/app.js"]


def test_the_store_admits_upload_parts_from_the_console_only(template):
    from infra import store_cors
    bucket = template["Resources"]["ImageStoreBucket"]["Properties"]
    assert bucket["CorsConfiguration"] == store_cors.configuration()
    [rule] = bucket["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["PUT"]
    assert "ConsoleOrigin" in template["Parameters"]
