"""The image store keeps what is deleted or overwritten for a while (bucket versioning).

The app deletes without version IDs and lists current objects only: a delete leaves a delete
marker (the object is gone for every read and listing, the cleanup's orphan search included)
and the old version becomes noncurrent. Noncurrent versions expire after
NoncurrentVersionDays; delete markers left with no version behind them are removed.
"""
from __future__ import annotations

from typing import Any

PARAMETER = "NoncurrentVersionDays"


def parameters() -> dict[str, Any]:
    return {PARAMETER: {
        "Type": "Number", "Default": 30, "MinValue": 1,
        "Description": "Days the image store keeps a deleted or overwritten object's old "
                       "version (for recovery) before it expires"}}


def store_versions(bucket: str) -> dict[str, Any]:
    return {bucket: {"Properties": {
        "VersioningConfiguration": {"Status": "Enabled"},
        "LifecycleConfiguration": {"Rules": [
            {"Id": "expire-noncurrent-versions", "Status": "Enabled",
             "NoncurrentVersionExpiration": {"NoncurrentDays": {"Ref": PARAMETER}}},
            {"Id": "remove-expired-delete-markers", "Status": "Enabled",
             "ExpiredObjectDeleteMarker": True}]}}}}
