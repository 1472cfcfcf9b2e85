"""Validation of the writable image fields (SPEC §3), pure and shared by every operation."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.domain import field_texts as texts
from chalicelib.domain import fields as f
from chalicelib.domain.limits import MAX_DESC_CHARS
from chalicelib.domain.vocabulary import ACCESS_CHOICES

COERCERS: dict[str, f.Coercer] = {
    "alias": f.safe_text(32, allow_empty=False),
    "version": f.safe_text(16, allow_empty=False),
    "access": f.choice(ACCESS_CHOICES),
    "owner": f.to_username,
    "desc": f.safe_text(MAX_DESC_CHARS, allow_empty=True),
    "resize": f.to_bool,
    "deploy": f.to_bool,
    "tags": f.to_tags,
    "dc_bound": f.to_bool,
}
# Fields PUT may change, in the order errors and log details are reported.
UPDATABLE = ("alias", "version", "dc_bound", "owner", "access", "desc", "resize", "deploy", "tags")
# Changing only these never touches the manifest in the image store.
DB_ONLY = frozenset(("dc_bound", "owner"))



class Errors(dict[str, list[str]]):
    """Field -> list of messages, in first-reported order."""

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)


def clean(data: dict[str, Any], names: Iterable[str], errors: Errors) -> dict[str, Any]:
    """Coerce the `names` present in `data`; record errors, return the good values."""
    cleaned: dict[str, Any] = {}
    for name in names:
        if name not in data:
            continue
        raw = data[name]
        if raw is None:
            errors.add(name, texts.NOT_NULL)
            continue
        value, error = COERCERS[name](raw)
        if error:
            errors.add(name, error)
        else:
            cleaned[name] = value
    return cleaned


def manifest_defaults(defaults: dict[str, Any]) -> dict[str, Any]:
    """Field values a manifest supplies, validated like client input.

    Unlike Danube Cloud, a description with characters the API refuses (`Tom & Jerry`) does
    not fail the import: those characters are dropped from the derived text (control
    characters become blanks). A bad version or
    tag still fails, since changing those would change the image's identity.
    """
    values: dict[str, Any] = {key: defaults[key] for key in
                              ("version", "desc", "resize", "deploy", "tags") if key in defaults}
    if isinstance(values.get("desc"), str):
        values["desc"] = f.CONTROL_RE.sub(" ", f.UNSAFE_RE.sub("", values["desc"]))[:MAX_DESC_CHARS]
    return values


def sent_fields(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The updatable fields a request sent, with their clean values (the task log's detail)."""
    return {key: changes[key] for key in UPDATABLE if key in changes and key in data}
