"""The OpenAPI document's builder: a valid OpenAPI 3.1 document whose request-field schemas
agree with the coercers the forms validate with, and whose response schemas fit what the
renderers produce."""
from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from chalicelib.domain import fields, image_form, openapi_document
from chalicelib.domain.image_view import FIELDS, render
from chalicelib.domain.openapi_document import ServiceFacts, build, coercer_schema

FACTS = ServiceFacts(version="1.0.0", image_page=(1, 10000), log_page=(1, 1000),
                     image_order=("name", "created"), vm_order=("hostname",),
                     node_filters=("name", "version", "os", "type"))
DOCUMENT = build(FACTS)
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


def schema_of(name: str) -> Draft202012Validator:
    """A validator of one component schema (its $refs resolve in the document)."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                 "components": DOCUMENT["components"]})


def operations():
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            assert method in METHODS
            yield path, method, operation


def test_is_a_valid_openapi_3_1_document():
    validate(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1")


def test_operation_ids_are_unique():
    ids = [operation["operationId"] for _, _, operation in operations()]
    assert len(ids) == len(set(ids))


def test_every_operation_names_its_security_and_every_key_route_answers_401():
    for path, method, operation in operations():
        assert "security" in operation, (path, method)
        if {"ApiKey": []} in operation["security"]:
            assert "401" in operation["responses"], (path, method)
        if "{" in path:  # a key nothing stored can have (empty, too long): 404
            assert "404" in operation["responses"], (path, method)


def test_every_response_is_json_with_the_envelope_headers():
    for path, method, operation in operations():
        for status, response in operation["responses"].items():
            assert list(response["content"]) == ["application/json"], (path, method, status)
            assert {"es_version", "es_dc", "es_username"} <= set(response["headers"])


def test_every_image_field_has_a_schema_and_a_description():
    assert set(openapi_document.FIELD_DOCS) == set(image_form.COERCERS)
    for name, coercer in image_form.COERCERS.items():
        assert coercer_schema(coercer), name


def test_a_coercer_without_a_schema_is_refused():
    with pytest.raises(LookupError, match="no JSON Schema"):
        coercer_schema(lambda raw: (raw, None))


def test_name_limit_is_read_from_the_rule():
    limit = openapi_document.longest_accepted(lambda text: fields.image_name_error(text) is None)
    assert fields.image_name_error("a" * limit) is None
    assert fields.image_name_error("a" * (limit + 1)) is not None
    post = DOCUMENT["paths"]["/image/{name}"]["post"]
    name = next(p for p in post["parameters"] if p["name"] == "name")
    assert name["schema"]["maxLength"] == limit
    assert name["schema"]["pattern"] == fields.NAME_RE.pattern


# JSON values as a client may send them. Integral floats are left out: JSON Schema counts 1.0
# as the integer 1, while the coercers (like Python's json) keep it a float.
json_scalars = (st.none() | st.booleans() | st.integers(-10, 2**40)
                | st.floats(allow_nan=False).filter(lambda x: not float(x).is_integer())
                | st.text(max_size=140) | st.sampled_from(["1", "3", "true", "f", "a,b", ""]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=60),
                           max_leaves=60)
FIELD_VALIDATORS = {name: Draft202012Validator(coercer_schema(coercer))
                    for name, coercer in image_form.COERCERS.items()}


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(image_form.COERCERS)), value=json_values)
def test_what_the_schema_allows_the_field_rule_accepts(name, value):
    if FIELD_VALIDATORS[name].is_valid(value):
        assert image_form.COERCERS[name](value)[1] is None, (name, value)


TEXT_FIELDS = sorted(name for name, schema in
                     ((n, coercer_schema(c)) for n, c in image_form.COERCERS.items())
                     if schema.get("type") == "string")


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(TEXT_FIELDS),
       value=st.text(max_size=300) | st.text(alphabet="ab <&\x00\u200b", max_size=300))
def test_text_fields_schema_and_rule_agree_on_unpadded_text(name, value):
    """For text without surrounding blanks (which the rules strip first) the schema and the
    rule give the same verdict: the limits, patterns and refused characters are the rule's."""
    if value != value.strip():
        value = value.strip()
    accepted = image_form.COERCERS[name](value)[1] is None
    assert FIELD_VALIDATORS[name].is_valid(value) == accepted, (name, value)


def test_rendered_image_matches_the_image_schema():
    record = SimpleNamespace(
        dc_bound="main", name="centos-7", uuid="0b8ec7a4-3d4e-4f52-9c3a-5d2c1e0f9a7b",
        alias="centos-7", version="1.0", owner="admin", access=3, desc="", ostype=1,
        size=10240, resize=True, deploy=False, tags=["linux"], status=1,
        created=datetime(2024, 1, 1, tzinfo=UTC), dcs=["main"],
        manifest_active={"files": [{"sha1": "a" * 40, "sha256": "b" * 64, "size": 1}]})
    assert set(openapi_document.IMAGE_PROPERTIES) == set(FIELDS)
    for extended in (False, True):
        schema_of("Image").validate(render(record, extended=extended))


def test_envelopes():
    schema_of("Detail").validate({"detail": "Not found"})
    schema_of("ValidationFailure").validate(
        {"task_id": "du-1", "status": "FAILURE", "result": {"alias": ["Enter a valid value."]}})
    schema_of("ValidationFailure").validate({"task_id": "du-1", "status": "FAILURE",
                                             "result": "could not start"})
    schema_of("Pending").validate({"task_id": "eu-1", "status": "PENDING", "result": None})
    schema_of("TaskStatus").validate({"task_id": "eu-1", "status": "FAILURE", "result": {
        "returncode": 6, "message": "ERROR: x", "detail": "Got bad return code (6)."}})
    assert not schema_of("Detail").is_valid({"detail": "x", "extra": 1})
