"""Where a manifest records the key that signed it (SPEC §4.14): `tags.signed_by`.

Not a top-level key: imgadm's manifest validator (imgmanifest `validateDcManifest`) refuses
fields it does not know, while `tags` is IMGAPI's free-form object, so the stored manifest stays
valid for the nodes that pull it. An import's own `tags` never reach the stored manifest
(`manifest.base_manifest`), so only this service writes the key; a top-level `signed_by` a
source sends is dropped so that nothing claims a signer it was not verified for.

The signer vouches for the file, which never changes: an update rebuilds the manifest over the
active one (`manifest.build_manifest` keeps a base's other tag keys) and so keeps it, and a
request's `tags` are strings that land in `tags.erigones` only. Nothing in the API sets, changes
or removes it (tests/integration/test_signed_image_updates.py).
"""
from __future__ import annotations

from typing import Any

SIGNED_BY = "signed_by"  # the tag, the extended view's field and the task log detail's key


def signer_of(manifest: Any) -> str | None:
    """The verified signer's key id, or None (unsigned, or not a manifest)."""
    tags = manifest.get("tags") if isinstance(manifest, dict) else None
    value = tags.get(SIGNED_BY) if isinstance(tags, dict) else None
    return value if isinstance(value, str) else None


def record_signer(base: dict[str, Any], key_id: str | None) -> None:
    """Write the verified signer (or none) into an import's base manifest, in place."""
    base.pop(SIGNED_BY, None)
    tags = base.get("tags")
    tags = dict(tags) if isinstance(tags, dict) else {}
    tags.pop(SIGNED_BY, None)
    if key_id is not None:
        tags[SIGNED_BY] = key_id
    if tags:
        base["tags"] = tags
    else:
        base.pop("tags", None)
