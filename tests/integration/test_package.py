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
DATA_SERVICES = ("dynamodb", "s3", "states", "sqs")
# Every setting whose value only the deployment knows (chalicelib/config.py).
DEPLOYMENT_ENV = {"IMAGE_API_TABLE_PREFIX", "IMAGE_STORE_BUCKET", "EXPORT_QUEUE_PREFIX",
                  "EXPORT_DEAD_LETTER_ARN",
                  "PLATFORM_EVENT_SOURCE", "NODE_TOKEN",
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
    # node queues are made by the app (one per compute node); the template has their DLQ
    assert set(queues) == {"ExportDeadLetterQueue"}
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
                yield logical_id, statement


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


def test_app_policy_is_on_every_function_role(template):
    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0]
             for fn in _of_type(template, "AWS::Serverless::Function").values()}
    policy = template["Resources"]["AppPolicy"]["Properties"]
    assert {role["Ref"] for role in policy["Roles"]} == roles
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in _as_list(s["Action"])}
    assert {"dynamodb:GetItem", "s3:PutObject", "s3:ListBucket", "states:StartExecution",
            "states:DescribeExecution", "states:SendTaskSuccess", "sqs:SendMessage"} <= actions


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
# the transfer steps' resumable SHA-1 works with what the bundle and the runtime bring
from chalicelib.adapters import resumable_sha1
assert resumable_sha1.available(), "no resumable SHA-1 in the bundle's environment"
hasher = resumable_sha1.ResumableSha1()
hasher.update(b"abc")
assert resumable_sha1.ResumableSha1(hasher.state()).hexdigest() == \
    "a9993e364706816aba3e25717850c26c9cd0d89d"
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
