"""The local stack's principals and the policies they are held to.

Each policy is the document `make package` puts in the deploy template (infra/template.py:
`policy_documents`, `state_machine_role`, `node_agent_policy`), with its intrinsics resolved
to this stack's ARNs: account 123456789012, us-east-1, the stack's tables, bucket, state
machines, step functions and the node token's SSM parameter. Nothing here restates a grant.

Every principal with an access key (the functions, each node's agent) signs with its own key;
`testing` (the stack's set-up, the tests' own look at the emulator) and `ak` (moto's state
machine interpreter, which calls Lambda as the service does; the dispatch checks the
state-machine role) are the account's unrestricted keys.
"""
from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain import names
from chalicelib.domain.vocabulary import OPERATIONS
from devstack.emulator import ACCOUNT, REGION
from devstack.iam.intrinsics import Stack

UNRESTRICTED_KEYS = {"testing": "testing", "ak": "sk"}
API_FUNCTION = "APIHandler"
STATE_MACHINE_ROLE = "StateMachineRole"
NODE_AGENT = "NodeAgent"
IMGAPI_EDGE = "ImgapiEdge"             # CloudFront reading the store through its OAC
QUEUE_TAG = "imageapi-export-queue"   # NodeAgentPolicy's ${aws:PrincipalTag/...}
KEY_PREFIX = "LOCALIAM"


@dataclass(frozen=True)
class Principal:
    name: str                              # the function's logical ID, "NodeAgent-node1", ...
    statements: tuple[dict[str, Any], ...]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        """The caller AWS names in its AccessDenied messages (a role's session)."""
        role = self.name.split("-")[0]
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{self.name}"

    @property
    def access_key(self) -> str:
        return f"{KEY_PREFIX}-{self.name}"


def function_name(handler: str) -> str:
    """The function (its logical ID) a Chalice handler runs as; the API is one function."""
    from infra.template import _camel
    return _camel(handler)


class Policies:
    """The principals of one stack (table prefix); `reload()` after a grant changed."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}     # access key -> secret, made once per process
        self._principals: dict[str, Principal] = {}
        self._configured: tuple[str, str] | None = None   # (node token parameter, bucket)
        self._stack_cache: Stack | None = None

    def reload(self) -> None:
        with self._lock:
            self._principals = {}

    def principal(self, name: str) -> Principal:
        """`name`: a function's logical ID, STATE_MACHINE_ROLE or NodeAgent-<node>."""
        with self._lock:
            # The functions' environment names the node token's parameter and the store (a
            # deployment's template refers to its own bucket; a test may point the app at
            # another one): the policies follow what the app is configured with.
            parameter = os.environ.get("NODE_TOKEN_PARAMETER", "").strip()
            bucket = os.environ.get("IMAGE_STORE_BUCKET", "").strip() \
                or names.local_bucket_name(self.prefix)
            if (parameter, bucket) != self._configured:
                self._principals, self._configured = {}, (parameter, bucket)
            if not self._principals:
                self._principals = self._build(parameter, bucket)
            if name not in self._principals and name.startswith(NODE_AGENT + "-"):
                self._principals[name] = self._node_agent(name)
            return self._principals[name]

    def credentials(self, name: str) -> tuple[str, str]:
        """(access key, secret) of a principal."""
        key = self.principal(name).access_key
        with self._lock:
            secret = self._secrets.setdefault(key, secrets.token_hex(20))
        return key, secret

    def secret(self, access_key: str) -> str | None:
        if access_key in UNRESTRICTED_KEYS:
            return UNRESTRICTED_KEYS[access_key]
        with self._lock:
            return self._secrets.get(access_key)

    def by_key(self, access_key: str) -> Principal | None:
        """The principal signing with `access_key`; None for the unrestricted keys."""
        if not access_key.startswith(KEY_PREFIX + "-"):
            return None
        return self.principal(access_key[len(KEY_PREFIX) + 1:])

    # --- the documents ------------------------------------------------------------------------

    def _build(self, parameter: str, bucket: str) -> dict[str, Principal]:
        from infra import template
        from infra.tables import table_resources
        tables = table_resources()
        stack = self._stack(tables, parameter, bucket)
        upload_prefix = os.environ.get("IMAGE_STORE_UPLOAD_PREFIX", "").strip() \
            or names.UPLOAD_PREFIX
        # The template names tables by the stack's prefix; the ARNs (above) are the tables the
        # models bound when first imported (a test session may have bound another prefix).
        from chalicelib.persistence.models import Image
        bound = Image.Meta.table_name.removesuffix("-images")  # the prefix the models bound
        named = {logical_id: {**res, "Properties": {
            **res["Properties"],
            "TableName": f"{self.prefix}-"
                         f"{res['Properties']['TableName'].removeprefix(bound + '-')}"}}
            for logical_id, res in tables.items()}
        principals = {
            logical_id: Principal(logical_id, tuple(stack.resolve(document)["Statement"]))
            for logical_id, document in template.policy_documents(
                self.prefix, named, upload_prefix).items()}
        role = template.state_machine_role(sorted(self._step_functions()))
        document = role["Properties"]["Policies"][0]["PolicyDocument"]
        principals[STATE_MACHINE_ROLE] = Principal(
            STATE_MACHINE_ROLE, tuple(stack.resolve(document)["Statement"]))
        principals[IMGAPI_EDGE] = Principal(IMGAPI_EDGE, tuple(
            stack.resolve(statement) for statement in _edge_statements()))
        self._stack_cache = stack
        return principals

    def _node_agent(self, name: str) -> Principal:
        from infra import template
        node = name[len(NODE_AGENT) + 1:]
        document = template.node_agent_policy()["Properties"]["PolicyDocument"]
        queue = names.export_queue_name(names.export_queue_prefix(self.prefix), node)
        assert self._stack_cache is not None  # principal() builds the stack first
        return Principal(name, tuple(self._stack_cache.resolve(document)["Statement"]),
                         {QUEUE_TAG: queue})

    def _step_functions(self) -> dict[str, str]:
        """logical ID -> handler name of every function a state machine invokes."""
        from infra import template
        return {function_name(handler): handler
                for handlers in template._steps().values() for handler in handlers}

    def lambda_arn(self, handler: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.prefix}-{handler}"

    def _stack(self, tables: dict[str, Any], parameter: str, bucket: str) -> Stack:
        from infra import template
        machines = {template.machine_id(op): f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"
                    f"{names.state_machine_name(self.prefix, op)}" for op in OPERATIONS}
        arns = {logical_id: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
                f"{res['Properties']['TableName']}" for logical_id, res in tables.items()}
        arns["ImageStoreBucket"] = f"arn:aws:s3:::{bucket}"
        arns.update({logical_id: self.lambda_arn(handler)
                     for logical_id, handler in self._step_functions().items()})
        refs = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com", "ImageStoreBucket": bucket,
                "NodeTokenParameter": parameter, **machines}
        return Stack(refs, arns, {template.HAS_NODE_TOKEN: bool(parameter)})


def _edge_statements() -> list[dict[str, Any]]:
    """The bucket policy's grants to the IMGAPI distribution, as an identity policy of the
    local edge: the edge *is* that distribution, so the principal and its SourceArn condition
    hold by construction."""
    from infra import imgapi_edge
    return [{key: value for key, value in statement.items()
             if key not in ("Principal", "Condition")}
            for statement in imgapi_edge.bucket_statements()]


_policies: Policies | None = None


def install(prefix: str) -> Policies:
    global _policies
    _policies = Policies(prefix)
    return _policies


def current() -> Policies | None:
    return _policies
