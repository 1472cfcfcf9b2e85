"""What each Lambda function may do: the one table the deploy template's IAM comes from.

Chalice makes one role per function (autogen_policy is false); `infra.template` attaches to
each role one policy built from that function's `Grant` here, and refuses to package a
function that has none (a new handler needs a decision, not a default).

Read off the code paths each function runs (app.py registers the blueprints):

- `APIHandler`: every route. Keys are looked up by hash (users, key-hash-index), login tokens
  by their user (GetItem); a login and a logout update their user (token hash: UpdateItem,
  never a new or removed user); every login attempt is counted in `logins` (read, put, and a
  success deletes or decrements a count); image changes write images,
  guards, DC counts, snapshots, tasks and the task log in one transaction; a cancel or a
  workflow that cannot start rolls back like a step; node routes presign store URLs (files
  for nodes, export parts) and complete export uploads; an upload (SPEC §4.13) opens, presigns
  parts of, lists and completes its multipart upload under the upload prefix. The admin
  routes (/dc, /accounts/user) list users and DCs (Scan) and update them.
- the steps: each loads its task and image (`image_server.context`) and records on its task.
  `StepImportFile` downloads attacker-chosen URLs: it reads and writes under `images/` and
  touches no other table. `StepFinish`/`StepRollback` end the task (`services.tasks.ending`):
  the image transaction and the task log; a task with a callback announces its end ("Task
  Ended" on the default bus) instead of reading the creator's callback key.
- `OnTaskEnded` sends that callback: its task, and the creator's callback key (users: GetItem,
  and UpdateItem to make a missing key).
- `OnPlatformEvent`: UpdateItem on the read models it keeps (VMs, snapshots, users, DCs).
- `OnExecutionStatus` ends tasks like `StepRollback`, but only for an execution that
  `DescribeExecution` confirms has ended; `OnUploadCreated` resumes a waiting execution once
  it has seen the upload in the store (HeadObject; ListBucket makes a missing one a 404);
  `OnCleanup` reconciles tasks, repairs images, removes ended transfers' leftover state
  (the sparse `ended-transfer-index`) and expires records.

Only the API function reads the node token (SSM); only `StepRequestExport` sends to the node
queues; the state machines' task-token actions are the only ones on "*" (see template.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# DynamoDB item actions. Transactions are authorised item by item (PutItem, UpdateItem,
# DeleteItem, ConditionCheckItem: the users' last-SuperAdmin rule checks another user);
# the app never calls DescribeTable (PynamoDB 6 builds table metadata from the models).
GET, BATCH_GET, QUERY, SCAN = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
                               "dynamodb:Scan")
CHECK = "dynamodb:ConditionCheckItem"
PUT, UPDATE, DELETE, BATCH_WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem",
                                    "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")

# S3: HeadObject, GetObject, presigned GETs and copy sources are s3:GetObject; PutObject,
# multipart create/upload/complete, presigned part PUTs and copy targets are s3:PutObject;
# DeleteObjects is s3:DeleteObject per key. ListBucket also makes HeadObject on a missing key
# a 404 rather than a 403, which `store.object_size` relies on.
S3_GET, S3_PUT, S3_DELETE = "s3:GetObject", "s3:PutObject", "s3:DeleteObject"
S3_ABORT, S3_PARTS = "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"
S3_LIST, S3_UPLOADS = "s3:ListBucket", "s3:ListBucketMultipartUploads"

# Key spaces of the store: the images (`images/<uuid>/...`), the node agents' export uploads
# (the upload prefix, `uploads/` unless IMAGE_STORE_UPLOAD_PREFIX says otherwise), and all of
# it (only the cleanup, which removes orphans wherever they are).
IMAGES, UPLOADS, ANYWHERE = "images", "uploads", "anywhere"

# Step Functions
START, STOP, DESCRIBE = "states:StartExecution", "states:StopExecution", \
    "states:DescribeExecution"
TASK_SUCCESS, TASK_FAILURE, TASK_HEARTBEAT = ("states:SendTaskSuccess", "states:SendTaskFailure",
                                              "states:SendTaskHeartbeat")


@dataclass(frozen=True)
class Table:
    actions: tuple[str, ...]
    indexes: tuple[str, ...] = ()      # GSIs it queries (Query on these only)


@dataclass(frozen=True)
class Grant:
    tables: dict[str, Table] = field(default_factory=dict)    # short name (names.table_name)
    objects: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key space -> actions
    bucket: tuple[str, ...] = ()
    executions: tuple[str, ...] = ()   # StartExecution on the machines, others on executions
    task_tokens: tuple[str, ...] = ()  # the SendTask* actions (only on "*": see template.py)
    export_queues: bool = False        # create and send to the node queues
    task_events: bool = False          # put "Task Ended" events (callbacks) on the default bus
    node_token: bool = False           # read the node token's SSM parameter


def _merge(*grants: Grant) -> Grant:
    tables: dict[str, Table] = {}
    objects: dict[str, tuple[str, ...]] = {}
    for grant in grants:
        for name, table in grant.tables.items():
            old = tables.get(name, Table(()))
            tables[name] = Table(_union(old.actions, table.actions),
                                 _union(old.indexes, table.indexes))
        for space, actions in grant.objects.items():
            objects[space] = _union(objects.get(space, ()), actions)
    return Grant(
        tables=tables, objects=objects,
        bucket=_union(*(g.bucket for g in grants)),
        executions=_union(*(g.executions for g in grants)),
        task_tokens=_union(*(g.task_tokens for g in grants)),
        export_queues=any(g.export_queues for g in grants),
        task_events=any(g.task_events for g in grants),
        node_token=any(g.node_token for g in grants))


def _union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({item for group in groups for item in group}))


# Every step: its task (read, progress, failure, checkpoint, token) and its image (read).
STEP = Grant(tables={"tasks": Table((GET, UPDATE)), "images": Table((GET,))})

# Ending a task (services.tasks.ending): the image transaction (guards only released: an
# update's rollback returns the alias it held, nothing is claimed; DC counts; the source
# snapshot back to ok), the task and its log entry, the callback announced; a rollback
# cleans the store (the image's objects, the export's upload, the active manifest).
ENDING = Grant(
    tables={"tasks": Table((GET, UPDATE)), "images": Table((GET, UPDATE, DELETE)),
            "guards": Table((DELETE,)), "dcs": Table((UPDATE,)),
            "snapshots": Table((UPDATE,)), "tasklog": Table((PUT,))},
    task_events=True)
ROLLBACK_STORE = Grant(
    objects={IMAGES: (S3_GET, S3_PUT, S3_DELETE, S3_ABORT), UPLOADS: (S3_DELETE, S3_ABORT)},
    bucket=(S3_LIST, S3_UPLOADS))

GRANTS: dict[str, Grant] = {
    "APIHandler": _merge(ENDING, ROLLBACK_STORE, Grant(
        tables={
            # SCAN: the listings' fallback until the backfill has finished (catalogue_migration)
            "images": Table((GET, PUT, UPDATE, DELETE, SCAN), (
                "uuid-index", "catalogue-name-index", "catalogue-created-index",
                "dc-name-index", "dc-created-index", "servable-index")),
            "guards": Table((GET, BATCH_GET, PUT, DELETE)),  # GET: the backfill's mark
            "image-uses": Table((QUERY,)),
            # SCAN, CHECK: GET /accounts/user and the last-SuperAdmin rule of PUT (accounts)
            "users": Table((GET, UPDATE, SCAN, CHECK), ("key-hash-index",)),
            # login attempts, per name and address (services/identity/login_throttle.py)
            "logins": Table((GET, BATCH_GET, PUT, UPDATE, DELETE)),
            "dcs": Table((GET, UPDATE, SCAN)),  # SCAN: a SuperAdmin's GET /dc (dc_admin)
            "vms": Table((GET, BATCH_GET, SCAN), ("hostname-index",)),
            "snapshots": Table((GET, UPDATE)),
            "tasks": Table((GET, PUT, UPDATE), ("pending-user-index",)),
            "tasklog": Table((PUT, QUERY)),
        },
        objects={IMAGES: (S3_GET,), UPLOADS: (S3_GET, S3_PUT, S3_PARTS)},
        executions=(START, STOP), task_tokens=(TASK_HEARTBEAT, TASK_FAILURE),
        node_token=True)),
    "StepImportFile": _merge(STEP, Grant(
        tables={"images": Table((GET,), ("file-index",))},
        # no ListBucket: every object it heads exists (the copy's source and target)
        objects={IMAGES: (S3_GET, S3_PUT, S3_DELETE, S3_ABORT, S3_PARTS)},
        bucket=(S3_UPLOADS,))),
    "StepWriteManifest": _merge(STEP, Grant(objects={IMAGES: (S3_GET, S3_PUT)},
                                            bucket=(S3_LIST,))),
    "StepDeleteObjects": _merge(STEP, Grant(objects={IMAGES: (S3_DELETE, S3_ABORT)},
                                            bucket=(S3_UPLOADS,))),
    "StepRequestExport": _merge(STEP, Grant(objects={UPLOADS: (S3_PUT,)}, export_queues=True)),
    # the caller's upload: its token kept; an upload already there resumes the execution
    "StepAwaitUpload": _merge(STEP, Grant(objects={UPLOADS: (S3_GET,)}, bucket=(S3_LIST,),
                                          task_tokens=(TASK_SUCCESS,))),
    "StepIngestUpload": _merge(STEP, Grant(
        objects={UPLOADS: (S3_GET, S3_DELETE),
                 IMAGES: (S3_PUT, S3_DELETE, S3_ABORT, S3_PARTS)},
        bucket=(S3_LIST, S3_UPLOADS))),
    "StepFinish": _merge(STEP, ENDING),
    "StepRollback": _merge(STEP, ENDING, ROLLBACK_STORE),
    "OnPlatformEvent": Grant(tables={
        **{name: Table((UPDATE,)) for name in ("snapshots", "users", "dcs")},
        # a VM and its image uses in one transaction, conditioned on the version read
        "vms": Table((GET, UPDATE)), "image-uses": Table((PUT, DELETE))}),
    "OnExecutionStatus": _merge(ENDING, ROLLBACK_STORE, Grant(executions=(DESCRIBE,))),
    "OnUploadCreated": Grant(tables={"tasks": Table((GET,))}, objects={UPLOADS: (S3_GET,)},
                             bucket=(S3_LIST,), task_tokens=(TASK_SUCCESS,)),
    "OnTaskEnded": Grant(tables={"tasks": Table((GET, UPDATE)), "users": Table((GET, UPDATE))}),
    "OnCleanup": _merge(ENDING, ROLLBACK_STORE, Grant(
        # SCAN: expired records (`expires_at`), and ended transfers before the backfill
        tables={"tasks": Table((SCAN, BATCH_WRITE), ("pending-index", "ended-transfer-index")),
                # SCAN: orphaned objects (every uuid), and pending images before the backfill
                "images": Table((SCAN,), ("pending-image-index",)),
                "guards": Table((GET,)), "tasklog": Table((SCAN, BATCH_WRITE))},
        objects={ANYWHERE: (S3_DELETE, S3_ABORT)},
        bucket=(S3_LIST, S3_UPLOADS), executions=(DESCRIBE, STOP))),
}
