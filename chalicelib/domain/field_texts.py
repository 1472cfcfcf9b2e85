"""Every validation text shown under a field of a 400 FAILURE answer (SPEC §1.2, §3, §4):
Django REST framework's words where Danube Cloud uses them, its own texts elsewhere."""
from __future__ import annotations

from chalicelib.domain.redaction import redact

REQUIRED = "This field is required."
INVALID = "Enter a valid value."
NOT_NULL = "This field may not be null."
BLANK = "This field may not be blank."
NOT_A_STRING = "Not a valid string."
WHOLE_NUMBER = "Enter a whole number."
INVALID_URL = "Enter a valid URL."
INVALID_VALUE = "Invalid value."          # tags, cursors
DC_REQUIRED = ('You have to specify to which datacenter shall the image be bound. '
               'Either use the "dc" parameter or set the "dc_bound" parameter to false.')
ALIAS_IN_USE = "This alias is already in use. Please supply a different alias or version."
LIMIT_REACHED = "Maximum number of server disk images reached"
DC_BOUND_FORBIDDEN = "You don't have permission to modify this attribute."
ATTACHED_TO_MANY = "Image is attached into more than one datacenter."
ATTACHED_TO_NONE = "Image is not attached into any datacenters."
PENDING_TASKS = "Image has pending tasks."
MANIFEST_PARSE_ERROR = "Could not parse image manifest."
MANIFEST_INVALID = "Invalid image manifest."
MANIFEST_MULTIPLE_FILES = "Multiple files inside manifest are not supported."

# an upload's parts (SPEC §4.13)
PARTS_INVALID = "Enter a list of 1 to 100 part numbers, each a whole number from 1 to 10000."
CRC32_INVALID = ("Enter an object mapping part numbers asked for to their CRC32 checksums "
                 "(base64 of the 4 bytes, big-endian).")
NO_PARTS = "No part has been uploaded."

# users as the API changes them (PUT /accounts/user/{username})
LAST_SUPER_ADMIN = ("The last active SuperAdmin cannot be deactivated (make another user "
                    "SuperAdmin first).")
# a DC's trusted keys (POST /dc/{dc}/key, SPEC §4.14)
KEY_INVALID = ("Enter a minisign public key: the whole `minisign -G` .pub file or its base64 "
               "line.")
KEY_ID_TAKEN = "Another key with this key id is trusted in this datacenter; untrust it first."

def too_many_items(limit: int) -> str:
    return f"Ensure this field has no more than {limit} elements."


def max_length(limit: int, length: int) -> str:
    return f"Ensure this value has at most {limit} characters (it has {length})."


def at_least(low: int) -> str:
    return f"Ensure this value is greater than or equal to {low}."


def too_many_keys(limit: int) -> str:
    return f"This datacenter trusts {limit} keys already; untrust one first."


def between(low: int, high: int) -> str:
    return f"Ensure this value is between {low} and {high}."


def not_a_choice(value: object) -> str:
    return f"Select a valid choice. {value} is not one of the available choices."


def owner_missing(username: str) -> str:
    return f"Object with username={username} does not exist."


def manifest_unreachable(reason: str) -> str:
    return f"Image manifest URL is unreachable ({redact(reason).rstrip('.')})."


def manifest_too_large(limit: int) -> str:
    return f"Image manifest is too large (at most {limit} bytes may be kept with an image)."


def uuid_registered(holder: str) -> str:
    return f'Image UUID is already registered by image "{holder}".'


def part_missing(number: int) -> str:
    return f"Part {number} is missing."


def part_too_small(number: int, size: int) -> str:
    return (f"Part {number} has {size} bytes; every part but the last must have at least "
            "5242880 bytes (5 MiB).")
