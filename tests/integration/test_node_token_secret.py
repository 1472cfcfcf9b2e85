"""The node token kept in SSM Parameter Store (a SecureString named by NODE_TOKEN_PARAMETER,
as the deploy template configures the API function), and the SigV4 presigned URLs the node
routes hand out (README "Security")."""
from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from chalicelib.adapters import secrets
from chalicelib.persistence.models import Image
from tests.integration.test_workflow_snapshot import PART, Playing, create, place_vm
from tests.integration.workflow_support import start_import, wait_task
from tests.support import Api

CONTENT = b"ssm-node-token" * 50000


@pytest.fixture
def admin(server) -> Api:
    return Api(server.api_url, server.admin_key)


@pytest.fixture
def node_api(server) -> Api:
    return Api(server.api_url, None)


@pytest.fixture
def parameter(server, settings_override):
    """`parameter(value)`: the node token as an SSM SecureString the app is configured to
    read (NODE_TOKEN unset, as in AWS); what the app read before is forgotten, before and
    after the test, and the parameter is deleted."""
    name = f"/imageapi-test/node-token-{uuid.uuid4().hex[:10]}"
    ssm = boto3.client("ssm")
    secrets.forget()
    settings_override(NODE_TOKEN=None, NODE_TOKEN_PARAMETER=name)

    def put(value: str) -> str:
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
        return name

    yield put
    secrets.forget()
    try:
        ssm.delete_parameter(Name=name)
    except ssm.exceptions.ParameterNotFound:
        pass


@pytest.fixture
def ready(server, admin, files):
    task_id, _ = start_import(admin, files, "img1", CONTENT)
    assert wait_task(admin, task_id).status_code == 200
    return Image.get("img1").uuid


def assert_sigv4(url: str) -> None:
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"], url
    assert "X-Amz-Signature" in query and "X-Amz-Credential" in query
    assert "Signature" not in query and "AWSAccessKeyId" not in query  # no SigV2


def test_node_source_takes_the_token_from_ssm(ready, node_api, parameter):
    parameter("node-secret-in-ssm")
    ok = node_api.get("/images", headers={"ES-NODE-TOKEN": "node-secret-in-ssm"})
    assert ok.status_code == 200 and [m["uuid"] for m in ok.json()] == [ready]
    for wrong in ({"ES-NODE-TOKEN": "wrong"}, {}):
        assert node_api.get("/images", headers=wrong).status_code == 401
    # the file redirect: a SigV4 presigned URL that serves the file
    r = node_api.get(f"/images/{ready}/file", slash=False,
                     headers={"Authorization": "Token node-secret-in-ssm"})
    assert r.status_code == 302
    assert_sigv4(r.headers["Location"])
    assert requests.get(r.headers["Location"], timeout=10).content == CONTENT


def test_export_routes_take_the_token_from_ssm(server, admin, settings_override, parameter):
    settings_override(EXPORT_TIMEOUT_SECONDS="30", EXPORT_HEARTBEAT_SECONDS="30")
    parameter("cluster-secret-in-ssm")
    node = f"cn-{uuid.uuid4().hex[:10]}"
    place_vm(node)
    playing = Playing(server, node)
    task_id = create(admin)
    token = playing.next_request()["export_token"]
    for wrong in (None, "", "other-secret"):
        assert playing.call(task_id, "parts", PART, token, wrong).status_code == 403
    r = playing.call(task_id, "parts", PART, token, "cluster-secret-in-ssm")
    assert r.status_code == 200
    assert_sigv4(r.json()["urls"]["1"])


def test_read_once_per_container_and_env_wins(server, settings_override, parameter):
    name = parameter("first")
    assert secrets.node_token() == "first"
    boto3.client("ssm").put_parameter(Name=name, Value="second", Type="SecureString",
                                      Overwrite=True)
    assert secrets.node_token() == "first"      # kept: SSM is asked once per container
    secrets.forget()
    assert secrets.node_token() == "second"     # a new container reads the new value
    settings_override(NODE_TOKEN="from-env")
    assert secrets.node_token() == "from-env"   # the local stack's and the tests' way
    settings_override(NODE_TOKEN=None, NODE_TOKEN_PARAMETER=None)
    assert secrets.node_token() == ""           # neither: no node token


def test_an_unreadable_parameter_shuts_the_node_routes_only(ready, admin, node_api,
                                                            parameter):
    """Named but missing: the routes that check the token fail (never "no token"), the rest
    of the API never asks SSM; once the parameter exists, the next request reads it."""
    assert admin.get("/image").status_code == 200
    assert admin.get("/ping").status_code == 200
    r = node_api.get("/images", headers={"ES-NODE-TOKEN": "anything"})
    assert r.status_code == 500 and r.json() == {"detail": "Internal server error"}
    parameter("now-there")
    assert node_api.get("/images", headers={"ES-NODE-TOKEN": "now-there"}).status_code == 200
