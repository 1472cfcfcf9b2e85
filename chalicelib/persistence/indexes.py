"""The tables' global secondary indexes, declared once: the models use them (models.py), and
the template and the local stack create them from the models (infra/tables.py)."""
from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection


class ImageUuidIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "uuid-index"
        projection = AllProjection()

    uuid = UnicodeAttribute(hash_key=True)


class ImageFileIndex(GlobalSecondaryIndex):
    """Images by their file (`<sha1>:<size>`): an import of a file the store already holds
    copies it instead of downloading it again."""

    class Meta:
        index_name = "file-index"
        projection = KeysOnlyProjection()

    file_digest = UnicodeAttribute(hash_key=True)


# The catalogue's index walks (README "DynamoDB access patterns"). The key attributes are
# derived from the image's own fields (persistence/catalogue_keys.py) on every write, so
# each listing is a Query that reads what its page shows.


class CatalogueByNameIndex(GlobalSecondaryIndex):
    """Every listed (non-internal) image, by name: one constant partition `listed`."""

    class Meta:
        index_name = "catalogue-name-index"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class CatalogueByCreatedIndex(GlobalSecondaryIndex):
    """Every listed image by `<created>#<name>` (name breaks ties in created)."""

    class Meta:
        index_name = "catalogue-created-index"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class DcByNameIndex(GlobalSecondaryIndex):
    """Listed images bound to a DC, one partition per DC: what a DC image admin sees."""

    class Meta:
        index_name = "dc-name-index"
        projection = AllProjection()

    listed_dc = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class DcByCreatedIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "dc-created-index"
        projection = AllProjection()

    listed_dc = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class PendingImageIndex(GlobalSecondaryIndex):
    """Sparse: images in status pending, for the reconciler."""

    class Meta:
        index_name = "pending-image-index"
        projection = AllProjection()

    pending_image = UnicodeAttribute(hash_key=True)


class ServableIndex(GlobalSecondaryIndex):
    """Sparse: images a compute node can download (ready, with a file), for the node source."""

    class Meta:
        index_name = "servable-index"
        projection = AllProjection()

    servable = UnicodeAttribute(hash_key=True)


class KeyHashIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "key-hash-index"
        projection = AllProjection()

    api_key_hash = UnicodeAttribute(hash_key=True)


class VmHostnameIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "hostname-index"
        projection = AllProjection()

    hostname = UnicodeAttribute(hash_key=True)


class PendingUserIndex(GlobalSecondaryIndex):
    """Sparse: only tasks that are still pending carry `pending_user`."""

    class Meta:
        index_name = "pending-user-index"
        projection = KeysOnlyProjection()

    pending_user = UnicodeAttribute(hash_key=True)


class PendingIndex(GlobalSecondaryIndex):
    """Sparse: every pending task, for the reconciler."""

    class Meta:
        index_name = "pending-index"
        projection = AllProjection()

    pending = UnicodeAttribute(hash_key=True)


class TasksNewestIndex(GlobalSecondaryIndex):
    """Every task by `<created>#<task id>` in one partition: `imagectl task list`, newest
    first (a Query read backwards)."""

    class Meta:
        index_name = "tasks-newest-index"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class TasksByDcIndex(GlobalSecondaryIndex):
    """The tasks of one DC, newest first: `imagectl task list --dc`."""

    class Meta:
        index_name = "tasks-dc-index"
        projection = AllProjection()

    dc = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class TasksByCreatorIndex(GlobalSecondaryIndex):
    """The tasks one user created, newest first: `imagectl task list --user`."""

    class Meta:
        index_name = "tasks-creator-index"
        projection = AllProjection()

    creator = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class EndedTransferIndex(GlobalSecondaryIndex):
    """Sparse: ended tasks still holding transfer state, for the cleanup (catalogue_keys)."""

    class Meta:
        index_name = "ended-transfer-index"
        projection = AllProjection()

    ended_transfer = UnicodeAttribute(hash_key=True)
