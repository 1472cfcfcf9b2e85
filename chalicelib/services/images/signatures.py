"""Signed manifests (SPEC §4.14): the signature of a new image's manifest, checked against
the keys its DC trusts, and the refusal of unsigned images in a DC that accepts signed ones
only.

Where in the order of checks (SPEC §4.3: 403 → 412 → 406 → 404 DC → 403 rights → manifest →
fields → 428): with the manifest. The signature is over the manifest's bytes, so it is fetched
and checked right after the manifest is, and only when the manifest itself is valid; its errors
go with the manifest's and the fields' into the one 400 answer. A signed-only DC's refusal of
an unsigned image needs no network and is given even when the manifest has errors too.
Images made from VM snapshots never come here: the platform makes them (not refused).
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain import field_texts, minisign
from chalicelib.domain.image_form import Errors
from chalicelib.domain.manifest_signer import record_signer, signer_of
from chalicelib.domain.urlpolicy import check_url_syntax
from chalicelib.persistence.models import Datacenter
from chalicelib.services.identity.dc_trust import trusted_key
from chalicelib.services.images.new_manifest import Fetched

IMPORT_FIELD = "signature_url"
UPLOAD_FIELD = "signature"


def check(dc: Datacenter, data: dict[str, Any], fetched: Fetched | None, errs: Errors, *,
          upload: bool) -> None:
    """Verify the request's signature (errors into `errs`); a verified key id is written into
    the new image's base manifest (`manifest_signer`), which nobody may claim otherwise."""
    if fetched is not None:
        record_signer(fetched.base, None)
    field = UPLOAD_FIELD if upload else IMPORT_FIELD
    given = data.get(field)
    if given is None or given == "":
        if dc.signed_only:
            errs.add(IMPORT_FIELD, field_texts.SIGNED_ONLY)  # the field SPEC §4.14 names
        return
    if fetched is None:  # the manifest's own error is the answer
        return
    text = _uploaded_signature(given) if upload else _fetched_signature(given, errs)
    if text is None:
        if upload or IMPORT_FIELD not in errs:
            errs.add(field, field_texts.SIGNATURE_INVALID)
        return
    signer = verify(dc, fetched.raw, text)
    if signer is None:
        errs.add(field, field_texts.SIGNATURE_INVALID)
        return
    record_signer(fetched.base, signer)


def signed_by(fetched: Fetched) -> str | None:
    return signer_of(fetched.base)


def verify(dc: Datacenter, message: bytes | None, text: str) -> str | None:
    """The id of the DC's trusted key whose signature `text` is of `message` (the manifest's
    exact bytes), checked as `minisign -V` does: the signature, then the global signature over
    it and the trusted comment. None: not valid (malformed, unknown key, any check failing)."""
    if message is None:  # an upload's manifest sent as an object: no exact bytes to check
        return None
    try:
        signature = minisign.parse_signature(text)
    except minisign.MalformedSignature:
        return None
    key = trusted_key(dc, signature.key_id)
    if key is None:
        return None
    from chalicelib.adapters import ed25519  # loads `cryptography`: only when checking
    if not ed25519.verify(key.key, signature.signature,
                          minisign.signed_message(signature, message)):
        return None
    if not ed25519.verify(key.key, signature.global_signature,
                          minisign.global_message(signature)):
        return None
    return key.key_id


def _uploaded_signature(value: Any) -> str | None:
    if not isinstance(value, str) or len(value.encode("utf-8", "replace")) \
            > minisign.MAX_SIGNATURE_BYTES:
        return None
    return value


def _fetched_signature(url: Any, errs: Errors) -> str | None:
    """The signature `signature_url` serves, fetched under the source policy (§7) with a total
    deadline of its own as long as the manifest's, and the signature cap; a fetch error goes
    into `errs`."""
    error = check_url_syntax(url) if isinstance(url, str) else field_texts.INVALID_URL
    if error:
        errs.add(IMPORT_FIELD, error)
        return None
    from chalicelib.adapters import sources  # network code: loads with the first import
    from chalicelib.config import settings
    try:
        raw = sources.fetch_bytes(url, policy=sources.configured_policy(),
                                  max_bytes=minisign.MAX_SIGNATURE_BYTES,
                                  timeout=settings().manifest_timeout)
    except sources.SourceError as exc:
        errs.add(IMPORT_FIELD, field_texts.signature_unreachable(exc.reason))
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
