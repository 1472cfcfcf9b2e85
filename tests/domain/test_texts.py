"""Every user-facing text, listed once: HTTP `detail` texts, field texts and esimg task texts.

Danube Cloud's clients and people's scripts match these words, so none may change by
accident: each catalogue module must hold exactly the texts listed here (a new text is added
here too, deliberately), and the templates render as shown.
"""
from __future__ import annotations

import pytest

from chalicelib.domain import field_texts, http_texts, source_texts, task_texts

HTTP = {
    "NOT_AUTHENTICATED": "Authentication credentials were not provided.",
    "INVALID_API_KEY": "Invalid API key.",
    "INVALID_TOKEN": "Invalid token.",
    "PERMISSION_DENIED": "Permission denied",
    "OBJECT_PERMISSION_DENIED": "You do not have permission to perform this action.",
    "NOT_FOUND": "Not found",
    "OK": "OK",
    "IMAGE_NOT_FOUND": "Image not found",
    "VM_NOT_FOUND": "VM not found",
    "SNAPSHOT_NOT_FOUND": "Snapshot not found",
    "DC_NOT_FOUND": "Datacenter not found",
    "USER_NOT_FOUND": "User not found",
    "KEY_NOT_FOUND": "Trusted key not found",
    "TASK_NOT_FOUND": "Task does not exist (anymore)",
    "IMAGE_EXISTS": "Image already exists",
    "TASK_FINISHED": "Task has already finished",
    "TASK_NOT_CANCELABLE": "Task cannot be canceled",
    "INVALID_DISK_ID": "Invalid disk_id",
    "ETAG_MISMATCH": "Precondition failed (ETag does not match)",
    "IMAGE_STATUS_NOT_OK": "Image status is not OK",
    "SNAPSHOT_STATUS_NOT_OK": "VM snapshot status is not OK",
    "VM_NOT_OPERATIONAL": "VM is not operational",
    "NODE_NOT_OPERATIONAL": "Node is not operational",
    "IMAGE_SERVER_NOT_AVAILABLE": "Image server is not available",
    "IMAGE_USED_BY_VMS": "Image is used by some VMs",
    "MALFORMED_REQUEST": "Malformed request",
    "THROTTLED": "Request was throttled.",
    "INTERNAL_ERROR": "Internal server error",
    "DEPENDENCY_UNAVAILABLE": "A service this API depends on did not answer in time. Nothing "
                              "was changed by this request's failed read; retry after the time "
                              "in the Retry-After header.",
    "DEPENDENCY_FAILED": "A service this API depends on failed for a moment. Retry after the "
                         "time in the Retry-After header; a change this request asked for may "
                         "or may not have been made, so read the image or task before "
                         "repeating it.",
    "LIST_TOO_LARGE": "The whole list is more than one answer can carry within the API's "
                      "limits (6 MB, 29 s). Ask for pages with the limit parameter and for the "
                      "next ones with cursor (the es_next header of each page).",
    "BAD_REQUEST": "Bad request",
    "NOT_STARTED": "Image operation could not be started; it was rolled back.",
    "RESPONSE_TOO_LARGE": "The answer would be larger than an API response may be (6 MB). Ask "
                          "for a page with the limit parameter and for the next pages with "
                          "cursor (the es_next header of each page).",
    "EXPORT_BYTES_INVALID": "bytes must be a non-negative integer",
    "EXPORT_PARTS_COUNT_INVALID": "parts must be an integer between 1 and 10000",
    "EXPORT_PARTS_MISSING": "The upload does not hold the parts and bytes reported",
    "LOGIN_WELCOME": "Welcome to Danube Cloud API.",
    "LOGIN_FAILED": "Unable to log in with provided credentials.",
    "LOGOUT_BYE": "Bye.",
}
FIELDS = {
    "REQUIRED": "This field is required.",
    "INVALID": "Enter a valid value.",
    "NOT_NULL": "This field may not be null.",
    "BLANK": "This field may not be blank.",
    "NOT_A_STRING": "Not a valid string.",
    "WHOLE_NUMBER": "Enter a whole number.",
    "INVALID_URL": "Enter a valid URL.",
    "INVALID_VALUE": "Invalid value.",
    "DC_REQUIRED": 'You have to specify to which datacenter shall the image be bound. '
                   'Either use the "dc" parameter or set the "dc_bound" parameter to false.',
    "ALIAS_IN_USE": "This alias is already in use. Please supply a different alias or version.",
    "LIMIT_REACHED": "Maximum number of server disk images reached",
    "DC_BOUND_FORBIDDEN": "You don't have permission to modify this attribute.",
    "ATTACHED_TO_MANY": "Image is attached into more than one datacenter.",
    "ATTACHED_TO_NONE": "Image is not attached into any datacenters.",
    "PENDING_TASKS": "Image has pending tasks.",
    "MANIFEST_PARSE_ERROR": "Could not parse image manifest.",
    "MANIFEST_INVALID": "Invalid image manifest.",
    "MANIFEST_MULTIPLE_FILES": "Multiple files inside manifest are not supported.",
    "PARTS_INVALID": "Enter a list of 1 to 100 part numbers, each a whole number from 1 to "
                     "10000.",
    "CRC32_INVALID": "Enter an object mapping part numbers asked for to their CRC32 "
                     "checksums (base64 of the 4 bytes, big-endian).",
    "NO_PARTS": "No part has been uploaded.",
    "LAST_SUPER_ADMIN": "The last active SuperAdmin cannot be deactivated (make another user "
                        "SuperAdmin first).",
    "KEY_INVALID": "Enter a minisign public key: the whole `minisign -G` .pub file or its "
                   "base64 line.",
    "KEY_ID_TAKEN": "Another key with this key id is trusted in this datacenter; untrust it "
                    "first.",
}
TASKS = {
    "REVOKED": "ERROR: Task was revoked",
    "REVOKED_DETAIL": "The operation was canceled and rolled back.",
    "TIMED_OUT": "ERROR: The operation did not finish in time",
    "NEVER_STARTED": "ERROR: The operation never started",
    "NOT_COMMITTED": "ERROR: The operation ended without committing",
    "IMAGE_DIR_MISSING": "ERROR: Target image directory does not exist",
    "EXPORT_NOT_UPLOADED": "ERROR: The exported snapshot was not uploaded",
    "EXPORT_EMPTY": "ERROR: The exported snapshot is empty",
    "UPLOAD_MISSING": "ERROR: The image file was not uploaded",
    "NODE_UNKNOWN": "ERROR: The compute node of the VM is not known",
    "NO_SPACE": "ERROR: Not enough free space on image server",
    "NO_RESUME": "ERROR: Image source does not support resumable downloads (HTTP Range) and "
                 "the file does not fit one transfer step",
    "LOG_IMPORT": "Import image",
    "LOG_CREATE": "Create image",
    "LOG_UPDATE": "Update image",
    "LOG_DELETE": "Delete image",
    "LOG_UPLOAD": "Upload image",
    "LOG_ATTACH": "Add server image to datacenter",
}
TEMPLATES = [
    (field_texts.part_missing(2), "Part 2 is missing."),
    (field_texts.part_too_small(1, 100), "Part 1 has 100 bytes; every part but the last must "
                                         "have at least 5242880 bytes (5 MiB)."),
    (http_texts.invalid_order_by(("name", "created")),
     "Invalid order_by; Possible sort fields are: name, created"),
    (http_texts.method_not_allowed("PATCH"), 'Method "PATCH" not allowed.'),
    (http_texts.export_parts_invalid(100),
     "parts must list 1 to 100 objects with a number (1-10000) and a size (1 byte to 5 GiB)"),
    (field_texts.max_length(32, 33), "Ensure this value has at most 32 characters (it has 33)."),
    (field_texts.between(1, 1000), "Ensure this value is between 1 and 1000."),
    (field_texts.at_least(0), "Ensure this value is greater than or equal to 0."),
    (field_texts.too_many_keys(50), "This datacenter trusts 50 keys already; untrust one first."),
    (field_texts.too_many_items(50), "Ensure this field has no more than 50 elements."),
    (field_texts.not_a_choice(7), "Select a valid choice. 7 is not one of the available choices."),
    (field_texts.owner_missing("bob"), "Object with username=bob does not exist."),
    (field_texts.manifest_unreachable("Read timed out"),
     "Image manifest URL is unreachable (Read timed out)."),
    (field_texts.manifest_unreachable("Exceeded 5 redirects."),
     "Image manifest URL is unreachable (Exceeded 5 redirects)."),
    (field_texts.manifest_too_large(131072),
     "Image manifest is too large (at most 131072 bytes may be kept with an image)."),
    (field_texts.uuid_registered("img"), 'Image UUID is already registered by image "img".'),
    (task_texts.success("import", "a", 5, 1.4),
     "Successfully imported image a (transferred 5 bytes in 1 seconds)"),
    (task_texts.success_reused("a", 5),
     "Successfully imported image a (reused an identical file of 5 bytes already in the image "
     "store)"),
    (task_texts.download_failed("Read timed out"),
     "ERROR: Could not download image file (Read timed out)"),
    (task_texts.checksum_mismatch("a", "b"), "ERROR: Image file checksum mismatch (a != b)"),
    (task_texts.size_mismatch(1, 2), "ERROR: Image file size mismatch (1 != 2)"),
    (task_texts.larger_than_announced(9), "ERROR: Image file is larger than announced (9 bytes)"),
    (task_texts.store_unavailable("EndpointConnectionError"),
     "ERROR: Image store is not available (EndpointConnectionError)"),
    (task_texts.not_started("ClientError"),
     "ERROR: Could not start the image operation (ClientError)"),
    (task_texts.export_failed(None), "ERROR: Snapshot export failed (no reason given)"),
    (task_texts.operation_failed("States.Runtime"),
     "ERROR: Image operation failed (States.Runtime)"),
    (task_texts.failure_detail(8, "ERROR: x"), "Got bad return code (8). Error: ERROR: x"),
]


SOURCES = {
    "TOO_LARGE": "Response is too large",
    "TRUNCATED": "Connection broken",
    "TIMED_OUT": "Read timed out",
    "COMPRESSED": "Response is compressed (Content-Encoding) although identity was asked for",
    "CONNECT_TIMED_OUT": "Connection timed out",
    "NAME_RESOLUTION": "Name resolution failed",
    "REFUSED": "Connection refused",
    "SSL": "SSL error",
    "INVALID_URL": "Invalid URL",
    "CONNECTION_FAILED": "Connection failed",
    "NON_HTTP_REDIRECT": "Redirect to a non-HTTP(S) URL is not allowed",
    "INVALID_REDIRECT": "Invalid redirect URL",
    "RANGE_MISPLACED": "Range answered from another position",
}


def test_source_texts():
    assert constants(source_texts) == SOURCES
    assert source_texts.too_many_redirects(5) == "Exceeded 5 redirects."


def constants(module) -> dict[str, str]:
    return {name: value for name, value in vars(module).items()
            if name.isupper() and isinstance(value, str)}


@pytest.mark.parametrize("module,expected", [(http_texts, HTTP), (field_texts, FIELDS),
                                             (task_texts, TASKS)],
                         ids=["http", "fields", "tasks"])
def test_every_text_of_the_catalogue(module, expected):
    assert constants(module) == expected


@pytest.mark.parametrize("rendered,text", TEMPLATES)
def test_templates(rendered, text):
    assert rendered == text
