"""PynamoDB models: the only place that knows how records are laid out in DynamoDB.

Table names are `<IMAGE_API_TABLE_PREFIX>-<table>` (chalicelib.domain.names), bound when this
module is imported. `infra/tables.py` turns these same classes into the CloudFormation tables
and the local stack creates its tables from that output, so there is one definition of every
table and index.
"""
from __future__ import annotations

from typing import Any, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.models import Model

from chalicelib.config import load, settings
from chalicelib.domain import names
from chalicelib.domain.limits import key_fits
from chalicelib.domain.vocabulary import PENDING, RUNNING, Access, ImageStatus
from chalicelib.persistence.indexes import (
    CatalogueByCreatedIndex,
    CatalogueByNameIndex,
    DcByCreatedIndex,
    DcByNameIndex,
    EndedTransferIndex,
    ImageFileIndex,
    ImageUuidIndex,
    KeyHashIndex,
    PendingImageIndex,
    PendingIndex,
    PendingUserIndex,
    ServableIndex,
    TasksByCreatorIndex,
    TasksByDcIndex,
    TasksNewestIndex,
    VmHostnameIndex,
)

_M = TypeVar("_M", bound=Model)


def _table(table: str) -> str:
    return names.table_name(settings().table_prefix, table)


class _Meta:
    billing_mode = "PAY_PER_REQUEST"
    # host=None lets botocore resolve the endpoint (AWS_ENDPOINT_URL_DYNAMODB in the local stack)
    host = None
    region = load().aws_region
    connect_timeout_seconds = 3
    read_timeout_seconds = 10
    max_retry_attempts = 3


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------
class Image(Model):
    """A server disk image record; `name` is the URL key."""

    class Meta(_Meta):
        table_name = _table("images")

    name = UnicodeAttribute(hash_key=True)
    uuid = UnicodeAttribute()
    alias = UnicodeAttribute()
    version = UnicodeAttribute()
    owner = UnicodeAttribute()
    access = NumberAttribute(default=int(Access.PRIVATE))
    desc = UnicodeAttribute(default="")
    ostype = NumberAttribute(default=1)
    size = NumberAttribute(default=1024)
    resize = BooleanAttribute(default=False)
    deploy = BooleanAttribute(default=False)
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    status = NumberAttribute(default=int(ImageStatus.OK))
    created = UTCDateTimeAttribute()
    dc_bound = UnicodeAttribute(null=True)          # name of the DC owning the image
    dcs = ListAttribute(of=UnicodeAttribute, default=list)  # DCs the image is attached to
    manifest = JSONAttribute(null=True)             # desired manifest
    manifest_active = JSONAttribute(null=True)      # last manifest applied to the image store
    backup = JSONAttribute(null=True)               # previous values during an update
    src_vm = UnicodeAttribute(null=True)
    src_snap = UnicodeAttribute(null=True)
    task_id = UnicodeAttribute(null=True)           # the task holding the status lock
    file_digest = UnicodeAttribute(null=True)       # "<sha1>:<size>" of its file in the store
    rev = VersionAttribute()                        # ETag source
    # index keys, derived on every write (catalogue_keys.derived_keys); absent = not indexed
    listed = UnicodeAttribute(null=True)
    listed_dc = UnicodeAttribute(null=True)
    created_key = UnicodeAttribute(null=True)
    pending_image = UnicodeAttribute(null=True)
    servable = UnicodeAttribute(null=True)

    uuid_index = ImageUuidIndex()
    file_index = ImageFileIndex()
    by_name = CatalogueByNameIndex()
    by_created = CatalogueByCreatedIndex()
    dc_by_name = DcByNameIndex()
    dc_by_created = DcByCreatedIndex()
    pending_index = PendingImageIndex()
    servable_index = ServableIndex()

    def serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        """Every put (save, transaction) carries the index keys its fields imply."""
        from chalicelib.persistence.catalogue_keys import derived_keys
        for key, value in derived_keys(self).items():
            setattr(self, key, value)
        return super().serialize(null_check=null_check)

    def update(self, actions: list[Any], condition: Any = None, *,
               add_version_condition: bool = True) -> Any:
        """A direct UpdateItem (an operator's fix, a test's set-up) keeps the index keys too:
        a second write when the first moved them. The app's own changes go through
        `records.add_update`, which sets them in the same transaction."""
        from chalicelib.persistence.catalogue_keys import derived_keys, stored_keys
        result = super().update(actions, condition, add_version_condition=add_version_condition)
        moved = {key: value for key, value in derived_keys(self).items()
                 if value != stored_keys(self)[key]}
        if moved and not any(key in _INDEX_KEYS for key in _action_paths(actions)):
            result = super().update([getattr(Image, key).set(value) if value is not None
                                     else getattr(Image, key).remove()
                                     for key, value in moved.items()],
                                    add_version_condition=False)
        return result


_INDEX_KEYS = ("listed", "listed_dc", "created_key", "pending_image", "servable")


def _action_paths(actions: list[Any]) -> list[str]:
    """The top-level attribute each update action writes."""
    return [str(action.values[0].path[0]) if hasattr(action.values[0], "path") else ""
            for action in actions]


class Guard(Model):
    """Uniqueness guard: `uuid#<uuid>` and `alias#<alias lower>#<version>` point at an image.

    Guards are written in the same transaction as the image, so two concurrent requests can
    never both claim a uuid or an alias+version.
    """

    class Meta(_Meta):
        table_name = _table("guards")

    key = UnicodeAttribute(hash_key=True)
    image_name = UnicodeAttribute()


# ---------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------
class User(Model):
    class Meta(_Meta):
        table_name = _table("users")

    username = UnicodeAttribute(hash_key=True)
    is_super_admin = BooleanAttribute(default=False)
    is_active = BooleanAttribute(default=True)
    dc_roles: MapAttribute[str, Any] = MapAttribute(default=dict)  # {dc name: [role, ...]}
    api_key_hash = UnicodeAttribute(null=True)     # sha256 of the key (never the key itself)
    callback_key = UnicodeAttribute(null=True)
    event_version = NumberAttribute(default=0)
    # login (SPEC §4.11): none of these is ever set by a platform event
    password_hash = UnicodeAttribute(null=True)    # scrypt$n$r$p$salt$hash (domain.passwords)
    token_hash = UnicodeAttribute(null=True)       # sha256 of the current login token
    token_expires = UTCDateTimeAttribute(null=True)

    key_hash_index = KeyHashIndex()


class LoginThrottle(Model):
    """Failed-login counts (domain/login_throttle.py): per name and per (name, address), for
    every name tried, user or not; DynamoDB expires the items."""
    class Meta(_Meta):
        table_name = _table("logins")

    name_key = UnicodeAttribute(hash_key=True)     # sha256 of the name tried
    scope = UnicodeAttribute(range_key=True)       # "*" (the name) or "ip:<address>"
    failures = NumberAttribute(default=0)
    since = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class TrustedKey(MapAttribute):
    """A minisign public key a DC trusts (SPEC §4.14; `domain.minisign`)."""
    key_id = UnicodeAttribute()                    # 16 upper-case hex digits, as minisign prints
    key = UnicodeAttribute()                       # the base64 line of `minisign -G`
    comment = UnicodeAttribute(default="")         # its untrusted comment


class Datacenter(Model):
    class Meta(_Meta):
        table_name = _table("dcs")

    name = UnicodeAttribute(hash_key=True)
    image_limit = NumberAttribute(null=True)
    image_count = NumberAttribute(default=0)       # images bound to this DC (kept in transactions)
    event_version = NumberAttribute(default=0)
    trusted_keys = ListAttribute(of=TrustedKey, default=list)
    signed_only = BooleanAttribute(default=False)  # refuse unsigned imports and uploads
    trust_version = NumberAttribute(default=0)     # condition of every change of trusted_keys


# ---------------------------------------------------------------------------------------------
# Read model of the platform's VMs and snapshots (fed by platform events)
# ---------------------------------------------------------------------------------------------
class VmDisk(MapAttribute):
    image_uuid = UnicodeAttribute(null=True)
    size = NumberAttribute(default=0)
    zfs_filesystem = UnicodeAttribute(null=True)


class Vm(Model):
    class Meta(_Meta):
        table_name = _table("vms")

    uuid = UnicodeAttribute(hash_key=True)
    hostname = UnicodeAttribute()
    dc = UnicodeAttribute()
    owner = UnicodeAttribute(null=True)
    node = UnicodeAttribute(null=True)              # the compute node it runs on
    status = UnicodeAttribute(default="unknown")
    ostype = NumberAttribute(default=1)
    disks = ListAttribute(of=VmDisk, default=list)
    image_uuids = ListAttribute(of=UnicodeAttribute, default=list)  # for "is this image used?"
    deleted = BooleanAttribute(default=False)      # tombstone: a late "VM State" cannot revive it
    event_version = NumberAttribute(default=0)

    hostname_index = VmHostnameIndex()


class ImageUse(Model):
    """A VM of the read model using an image (one item per image and VM, whatever the number
    of its disks from it): "which VMs use this image" is a Query. Kept by the VM read model
    (services/platform/read_models.py) in the VM's own transaction."""

    class Meta(_Meta):
        table_name = _table("image-uses")

    image_uuid = UnicodeAttribute(hash_key=True)
    vm_uuid = UnicodeAttribute(range_key=True)
    dc = UnicodeAttribute()


class Snapshot(Model):
    class Meta(_Meta):
        table_name = _table("snapshots")

    vm_uuid = UnicodeAttribute(hash_key=True)
    snap_key = UnicodeAttribute(range_key=True)    # "<disk_id>#<name>"
    name = UnicodeAttribute()
    disk_id = NumberAttribute()
    zfs_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="ok")
    deleted = BooleanAttribute(default=False)      # tombstone, as for VMs
    event_version = NumberAttribute(default=0)

    @staticmethod
    def key_for(disk_id: int, name: str) -> str:
        return f"{disk_id}#{name}"


# ---------------------------------------------------------------------------------------------
# Tasks and the task log
# ---------------------------------------------------------------------------------------------
class Task(Model):
    class Meta(_Meta):
        table_name = _table("tasks")

    task_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(default=PENDING)     # vocabulary.TASK_STATUSES
    # running -> (rolling_back ->) done; every transition is a conditional write, so whoever
    # finishes the task first (last step, Catch, status event, reconciler, cancel) wins
    state = UnicodeAttribute(default=RUNNING)
    operation = UnicodeAttribute()                 # import, update, delete, snapshot
    image_uuid = UnicodeAttribute(null=True)
    request = JSONAttribute(null=True)             # what the operation needs (urls, snapshot, ...)
    failure = JSONAttribute(null=True)             # {"returncode", "message"}: a step's error
    token = UnicodeAttribute(null=True)            # Step Functions task token while waiting
    irrevocable = BooleanAttribute(null=True)      # past the point of no return: complete it
    transfer = JSONAttribute(null=True)            # a transfer's state between its step runs
    # a step's lease on writing the store (services.tasks.store_writes): a rollback waits for it
    store_writer = UnicodeAttribute(null=True)
    store_write_until = UTCDateTimeAttribute(null=True)
    export = JSONAttribute(null=True)              # a snapshot export: node, upload, tokens
    creator = UnicodeAttribute()
    owner = UnicodeAttribute()
    dc = UnicodeAttribute()
    image_name = UnicodeAttribute()
    image_alias = UnicodeAttribute(null=True)      # as the task log shows it
    unbound = BooleanAttribute(null=True)          # of a DC-unbound image: hidden like it
    view = JSONAttribute(null=True)                # the apiview shown by GET /task/<id>
    progress = JSONAttribute(null=True)
    result = JSONAttribute(null=True)
    callback = JSONAttribute(null=True)
    callback_sent = UTCDateTimeAttribute(null=True)  # claimed once: a callback goes out once
    created = UTCDateTimeAttribute()
    deadline = UTCDateTimeAttribute(null=True)
    finished = UTCDateTimeAttribute(null=True)
    pending_user = UnicodeAttribute(null=True)
    pending = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    listed = UnicodeAttribute(null=True)            # index keys, set on every put (serialize)
    created_key = UnicodeAttribute(null=True)
    ended_transfer = UnicodeAttribute(null=True)

    pending_user_index = PendingUserIndex()
    pending_index = PendingIndex()
    newest_index = TasksNewestIndex()
    dc_index = TasksByDcIndex()
    creator_index = TasksByCreatorIndex()
    ended_transfer_index = EndedTransferIndex()

    def serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        """A task's creation time, DC and id never change: its keys are set when it is put."""
        from chalicelib.persistence.catalogue_keys import task_keys
        for key, value in task_keys(self).items():
            setattr(self, key, value)
        return super().serialize(null_check=null_check)

    def update(self, actions: list[Any], condition: Any = None, *,
               add_version_condition: bool = True) -> Any:
        """`ended_transfer` follows `state` and `transfer`: a direct UpdateItem that moved it
        (a hand edit, a test's set-up) is followed by a second write, as for images. The
        app's own writes never move it (a task ends with its transfer removed, in one
        transaction) or set it themselves (`lifecycle.remove_ended_transfer`)."""
        from chalicelib.persistence.catalogue_keys import task_keys
        result = super().update(actions, condition, add_version_condition=add_version_condition)
        moved = {key: value for key, value in task_keys(self).items()
                 if value != getattr(self, key, None)}
        if moved and not any(key in _TASK_KEYS for key in _action_paths(actions)):
            result = super().update([getattr(Task, key).set(value) if value is not None
                                     else getattr(Task, key).remove()
                                     for key, value in moved.items()],
                                    add_version_condition=False)
        return result


_TASK_KEYS = ("listed", "created_key", "ended_transfer")


class TaskLogEntry(Model):
    """Audit log, one partition per DC, newest first by sort key."""

    class Meta(_Meta):
        table_name = _table("tasklog")

    dc = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)          # "<iso time>#<task id>"
    time = UTCDateTimeAttribute()
    task_id = UnicodeAttribute()
    status = UnicodeAttribute()
    username = UnicodeAttribute()
    owner = UnicodeAttribute(null=True)
    object_type = UnicodeAttribute(default="image")
    object_name = UnicodeAttribute(null=True)
    object_alias = UnicodeAttribute(null=True)
    msg = UnicodeAttribute()
    detail = UnicodeAttribute(default="")
    unbound = BooleanAttribute(null=True)          # about a DC-unbound image: SuperAdmins only
    expires_at = TTLAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (
    Image, Guard, User, Datacenter, Vm, ImageUse, Snapshot, Task, TaskLogEntry, LoginThrottle,
)


def get_or_none(model: type[_M], hash_key: Any, range_key: Any = None, *,
                consistent_read: bool = False) -> _M | None:
    """The item, or None when there is none (one GetItem; none at all for a key no item can
    have: empty, or longer than DynamoDB allows, which it would answer with an error)."""
    if any(isinstance(key, str) and not key_fits(key) for key in (hash_key, range_key)):
        return None
    try:
        return model.get(hash_key, range_key, consistent_read=consistent_read)
    except model.DoesNotExist:
        return None
