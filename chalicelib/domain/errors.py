"""Errors that end a request with a well-defined status code and Danube Cloud text."""
from __future__ import annotations


class ApiError(Exception):
    """Rendered as `{"detail": <detail>}` with `status`."""

    status = 400
    detail = "Bad request"

    def __init__(self, detail: str | None = None, status: int | None = None) -> None:
        if detail is not None:
            self.detail = detail
        if status is not None:
            self.status = status
        super().__init__(self.detail)


class NotAuthenticated(ApiError):
    status = 401
    detail = "Authentication credentials were not provided."


class InvalidApiKey(ApiError):
    status = 401
    detail = "Invalid API key."


class PermissionDenied(ApiError):
    """Decorator-level check: not an image admin anywhere / in this DC."""

    status = 403
    detail = "Permission denied"


class ObjectPermissionDenied(ApiError):
    """Object-level check (DC of the image, import rights)."""

    status = 403
    detail = "You do not have permission to perform this action."


class NotFound(ApiError):
    status = 404
    detail = "Not found"


class AlreadyExists(ApiError):
    status = 406
    detail = "Image already exists"


class InvalidInput(ApiError):
    status = 412


class PreconditionFailed(ApiError):
    status = 412
    detail = "Precondition failed"


class ExpectationFailed(ApiError):
    status = 417


class Locked(ApiError):
    status = 423


class PreconditionRequired(ApiError):
    status = 428


class MethodNotAllowed(ApiError):
    status = 405


class MalformedRequest(ApiError):
    status = 400
    detail = "Malformed request"


class ValidationFailed(Exception):
    """Rendered as a 400 FAILURE task envelope with `result` = errors: field errors (a dict),
    or a plain text when a task could not be created."""

    def __init__(self, errors: dict[str, list[str]] | str) -> None:
        self.errors = errors
        super().__init__(repr(errors))


# Frequently used texts (SPEC §1.2)
IMAGE_NOT_FOUND = "Image not found"
VM_NOT_FOUND = "VM not found"
SNAPSHOT_NOT_FOUND = "Snapshot not found"
DC_NOT_FOUND = "Datacenter not found"
TASK_NOT_FOUND = "Task does not exist (anymore)"
IMAGE_STATUS_NOT_OK = "Image status is not OK"
SNAPSHOT_STATUS_NOT_OK = "VM snapshot status is not OK"
VM_NOT_OPERATIONAL = "VM is not operational"
IMAGE_SERVER_NOT_AVAILABLE = "Image server is not available"
IMAGE_USED_BY_VMS = "Image is used by some VMs"
INVALID_DISK_ID = "Invalid disk_id"
