"""What each image-server operation means for its image, its store objects and its task: one
table, read by the task lifecycle (commit, undo, clean-up) instead of per-operation branches.

- `commit`: what success does to the record — ACTIVATE (status ok, the desired manifest
  becomes the active one) or REMOVE (the record and its guards go);
- `undo`: what a rollback does to the record — REMOVE (a new image goes), RESTORE (every
  backed-up field comes back, the alias guard it held is returned) or UNLOCK (status back
  to ok, nothing else changed);
- `clean_on_undo`: what a rollback removes or rewrites in the store;
- `point_of_no_return`: the operation's last step cannot be undone once it has started
  (deleting store objects); a rollback after that completes the operation instead.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain import task_texts
from chalicelib.domain.vocabulary import DELETE, IMPORT, SNAPSHOT, UPDATE
from chalicelib.domain.vocabulary import UPLOAD as UPLOAD_FILE

ACTIVATE, REMOVE, RESTORE, UNLOCK = "activate", "remove", "restore", "unlock"
IMAGE_OBJECTS, UPLOAD, ACTIVE_MANIFEST = "image objects", "upload", "active manifest"


@dataclass(frozen=True)
class Operation:
    name: str
    log_text: str
    commit: str
    undo: str
    clean_on_undo: tuple[str, ...] = ()
    uses_snapshot: bool = False        # its source snapshot is pending until the task ends
    holds_alias: bool = False          # keeps its previous alias+version until it ends
    point_of_no_return: bool = False

    @property
    def verb(self) -> str:
        return task_texts.VERBS[self.name]


RULES = {op.name: op for op in (
    Operation(IMPORT, task_texts.LOG_IMPORT, commit=ACTIVATE, undo=REMOVE,
              clean_on_undo=(IMAGE_OBJECTS,)),
    Operation(SNAPSHOT, task_texts.LOG_CREATE, commit=ACTIVATE, undo=REMOVE,
              clean_on_undo=(IMAGE_OBJECTS, UPLOAD), uses_snapshot=True),
    Operation(UPDATE, task_texts.LOG_UPDATE, commit=ACTIVATE, undo=RESTORE,
              clean_on_undo=(ACTIVE_MANIFEST,), holds_alias=True),
    Operation(DELETE, task_texts.LOG_DELETE, commit=REMOVE, undo=UNLOCK,
              point_of_no_return=True),
    # the caller's multipart upload (under the upload prefix) goes with the image's objects
    Operation(UPLOAD_FILE, task_texts.LOG_UPLOAD, commit=ACTIVATE, undo=REMOVE,
              clean_on_undo=(IMAGE_OBJECTS, UPLOAD)),
)}


def rules(operation: str) -> Operation:
    return RULES[operation]
