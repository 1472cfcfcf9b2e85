"""Errors that end a request with a well-defined status code and Danube Cloud text."""
from __future__ import annotations

from chalicelib.domain import http_texts as texts


class ApiError(Exception):
    """Rendered as `{"detail": <detail>}` with `status`."""

    status = 400
    detail = texts.BAD_REQUEST

    def __init__(self, detail: str | None = None, status: int | None = None) -> None:
        if detail is not None:
            self.detail = detail
        if status is not None:
            self.status = status
        super().__init__(self.detail)


class NotAuthenticated(ApiError):
    status = 401
    detail = texts.NOT_AUTHENTICATED


class InvalidApiKey(ApiError):
    status = 401
    detail = texts.INVALID_API_KEY


class PermissionDenied(ApiError):
    """Decorator-level check: not an image admin anywhere / in this DC."""

    status = 403
    detail = texts.PERMISSION_DENIED


class ObjectPermissionDenied(ApiError):
    """Object-level check (DC of the image, import rights)."""

    status = 403
    detail = texts.OBJECT_PERMISSION_DENIED


class NotFound(ApiError):
    status = 404
    detail = texts.NOT_FOUND


class MethodNotAllowed(ApiError):
    status = 405


class AlreadyExists(ApiError):
    status = 406
    detail = texts.IMAGE_EXISTS


class TaskFinished(ApiError):
    """A cancel of a task that has ended (Danube Cloud's TaskFailureResponse, 406)."""
    status = 406
    detail = texts.TASK_NOT_CANCELABLE


class InvalidParameter(ApiError):
    """Danube Cloud's 412 for a parameter it cannot use (order_by, disk_id)."""

    status = 412


class PreconditionFailed(ApiError):
    status = 412
    detail = texts.ETAG_MISMATCH


class Gone(ApiError):
    """The task a node agent works for has ended: the agent stops."""

    status = 410
    detail = texts.TASK_FINISHED


class ExpectationFailed(ApiError):
    status = 417


class Locked(ApiError):
    status = 423


class PreconditionRequired(ApiError):
    status = 428


class DependencyUnavailable(ApiError):
    status = 503
    detail = texts.DEPENDENCY_UNAVAILABLE
    retry_after_seconds = 5


class DependencyFailed(ApiError):
    """An AWS service answered a server error or throttled still after the SDK's retries."""
    status = 503
    detail = texts.DEPENDENCY_FAILED
    retry_after_seconds = 5


class ListTooLarge(ApiError):
    """A full list (no `limit`) past what one answer carries: the client must page."""
    status = 400
    detail = texts.LIST_TOO_LARGE


class Throttled(ApiError):
    status = 429
    detail = texts.THROTTLED


class BadRequest(ApiError):
    """A 400 with its own text (the node agent's export calls)."""

    status = 400


class MalformedRequest(ApiError):
    status = 400
    detail = texts.MALFORMED_REQUEST


class ValidationFailed(Exception):
    """Rendered as a 400 FAILURE task envelope with `result` = errors: field errors (a dict),
    or a plain text when a task could not be created."""

    def __init__(self, errors: dict[str, list[str]] | str) -> None:
        self.errors = errors
        super().__init__(repr(errors))


def field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed({field: [message]})
