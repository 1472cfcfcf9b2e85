"""Every `detail` text a request can end with (SPEC §1.2), in Danube Cloud's words."""
from __future__ import annotations

from collections.abc import Sequence

NOT_AUTHENTICATED = "Authentication credentials were not provided."
INVALID_API_KEY = "Invalid API key."
INVALID_TOKEN = "Invalid token."
PERMISSION_DENIED = "Permission denied"
OBJECT_PERMISSION_DENIED = "You do not have permission to perform this action."
NOT_FOUND = "Not found"
IMAGE_NOT_FOUND = "Image not found"
VM_NOT_FOUND = "VM not found"
SNAPSHOT_NOT_FOUND = "Snapshot not found"
DC_NOT_FOUND = "Datacenter not found"
USER_NOT_FOUND = "User not found"  # Danube Cloud's ObjectNotFound(model=User)
KEY_NOT_FOUND = "Trusted key not found"  # DELETE /dc/{dc}/key/{key_id}
TASK_NOT_FOUND = "Task does not exist (anymore)"
IMAGE_EXISTS = "Image already exists"
TASK_FINISHED = "Task has already finished"
TASK_NOT_CANCELABLE = "Task cannot be canceled"  # Danube Cloud's 406 of task_cancel
INVALID_DISK_ID = "Invalid disk_id"
ETAG_MISMATCH = "Precondition failed (ETag does not match)"
OK = "OK"  # what the node agent's calls are answered when they are taken
IMAGE_STATUS_NOT_OK = "Image status is not OK"
SNAPSHOT_STATUS_NOT_OK = "VM snapshot status is not OK"
VM_NOT_OPERATIONAL = "VM is not operational"
NODE_NOT_OPERATIONAL = "Node is not operational"
IMAGE_SERVER_NOT_AVAILABLE = "Image server is not available"
IMAGE_USED_BY_VMS = "Image is used by some VMs"
MALFORMED_REQUEST = "Malformed request"
THROTTLED = "Request was throttled."
INTERNAL_ERROR = "Internal server error"
DEPENDENCY_UNAVAILABLE = ("A service this API depends on did not answer in time. Nothing was "
                          "changed by this request's failed read; retry after the time in the "
                          "Retry-After header.")
DEPENDENCY_FAILED = ("A service this API depends on failed for a moment. Retry after the time "
                     "in the Retry-After header; a change this request asked for may or may "
                     "not have been made, so read the image or task before repeating it.")
LIST_TOO_LARGE = ("The whole list is more than one answer can carry within the API's limits "
                  "(6 MB, 29 s). Ask for pages with the limit parameter and for the next ones "
                  "with cursor (the es_next header of each page).")
BAD_REQUEST = "Bad request"
NOT_STARTED = "Image operation could not be started; it was rolled back."
RESPONSE_TOO_LARGE = ("The answer would be larger than an API response may be (6 MB). Ask for "
                      "a page with the limit parameter and for the next pages with cursor (the "
                      "es_next header of each page).")
# the export routes, answered to node agents (README "Snapshot export")
EXPORT_BYTES_INVALID = "bytes must be a non-negative integer"
EXPORT_PARTS_COUNT_INVALID = "parts must be an integer between 1 and 10000"
EXPORT_PARTS_MISSING = "The upload does not hold the parts and bytes reported"
# POST /accounts/login, GET /accounts/logout (SPEC §4.11), in Danube Cloud's words
LOGIN_WELCOME = "Welcome to Danube Cloud API."
LOGIN_FAILED = "Unable to log in with provided credentials."
LOGOUT_BYE = "Bye."


def invalid_order_by(allowed: Sequence[str]) -> str:
    return f"Invalid order_by; Possible sort fields are: {', '.join(allowed)}"


def export_parts_invalid(most: int) -> str:
    return (f"parts must list 1 to {most} objects with a number (1-10000) and a size "
            "(1 byte to 5 GiB)")


def method_not_allowed(method: str) -> str:
    return f'Method "{method}" not allowed.'
