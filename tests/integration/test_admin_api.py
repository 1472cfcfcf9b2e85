"""The DCs and users the console manages, through the public API (issue 21): GET/PUT /dc and
GET/PUT /accounts/user, with SPEC §2's rights, the catalogue's field texts, `es`-style
values, Danube Cloud's own client, and how an API change meets a platform event's version."""
from __future__ import annotations

import base64
import os

import pytest
from esdc_api import Client

from chalicelib.domain import field_texts, http_texts
from chalicelib.services.identity import dc_trust
from tests.minisign_tool import new_key_pair
from tests.support import Api, image_admin_roles

DENIED = {"detail": http_texts.PERMISSION_DENIED}
KEY_PARTS = (2, 8, 32)  # a minisign public key's bytes: "Ed", the key id, the Ed25519 key
OBJECT_DENIED = {"detail": http_texts.OBJECT_PERMISSION_DENIED}


@pytest.fixture
def people(clean, admin):
    """DCs main and dc2; alice image admin in main, carol in dc2, dave in no DC."""
    clean.dc("dc2", image_limit=4)
    return {"admin": admin,
            "alice": clean.user("alice", roles=image_admin_roles("main")),
            "carol": clean.user("carol", roles=image_admin_roles("dc2")),
            "dave": clean.user("dave", roles={"main": ["admin"]}),
            "nobody": Api(clean.api_url, None)}


def dc_object(name, image_limit, signed_only=False, keys=()):
    """A DC as the API shows it; `keys` are tests.minisign_tool key pairs."""
    return {"name": name, "image_limit": image_limit, "signed_only": signed_only,
            "trusted_keys": [{"key_id": key.key_id, "key": key.public_line,
                              "comment": f"minisign public key {key.printed_id}"}
                             for key in keys]}


def ok(answer, status=200):
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == "SUCCESS" and answer.headers["es_task_id"] == body["task_id"]
    return body["result"]


def failure(answer):
    assert answer.status_code == 400, answer.text
    assert answer.json()["status"] == "FAILURE"
    return answer.json()["result"]


def refused(answer, status, body):
    assert (answer.status_code, answer.json()) == (status, body), answer.text


def unauthenticated(answer):
    refused(answer, 401, {"detail": http_texts.NOT_AUTHENTICATED})


# --- DCs -------------------------------------------------------------------------------------
def test_dc_list_is_what_the_caller_may_see(people):
    assert ok(people["admin"].get("/dc")) == ["dc2", "main"]
    assert ok(people["admin"].get("/dc", params={"full": "true"})) == [
        dc_object("dc2", 4), dc_object("main", None)]
    assert ok(people["alice"].get("/dc")) == ["main"]
    assert ok(people["carol"].get("/dc", params={"full": "True"})) == [
        dc_object("dc2", 4)]
    assert ok(people["dave"].get("/dc")) == []  # DC admin without image_admin: none
    unauthenticated(people["nobody"].get("/dc"))


def test_one_dc_for_its_image_admins_and_super_admins(people):
    answer = people["alice"].get("/dc/main")
    assert ok(answer) == dc_object("main", None)
    assert answer.headers["es_dc"] == "main"
    assert ok(people["admin"].get("/dc/dc2", slash=False)) == dc_object("dc2", 4)
    refused(people["alice"].get("/dc/dc2"), 403, OBJECT_DENIED)   # another DC's admin
    refused(people["dave"].get("/dc/main"), 403, DENIED)          # image admin nowhere
    refused(people["admin"].get("/dc/nowhere"), 404, {"detail": http_texts.DC_NOT_FOUND})
    unauthenticated(people["nobody"].get("/dc/main"))


def test_super_admin_changes_the_image_limit_and_imports_obey_it(people, clean, files):
    admin = people["admin"]
    assert ok(admin.put("/dc/main", {"image_limit": "1"})) == dc_object("main", 1)
    assert ok(admin.get("/dc/main"))["image_limit"] == 1
    assert admin.post("/image/img1", {"manifest_url": files.publish(files.manifest()),
                                      "dc": "main"}).status_code == 200
    assert failure(admin.post("/image/img2", {"manifest_url": files.publish(files.manifest()),
                                              "dc": "main"})) == {
        "non_field_errors": [field_texts.LIMIT_REACHED]}
    assert ok(admin.put("/dc/main", {"image_limit": None}))["image_limit"] is None
    assert admin.post("/image/img2", {"manifest_url": files.publish(files.manifest()),
                                      "dc": "main"}).status_code == 200
    assert ok(admin.put("/dc/main", {})) == dc_object("main", None)


def test_only_super_admins_change_a_dc(people):
    for who in ("alice", "carol", "dave"):
        for dc in ("main", "dc2", "nowhere"):  # existing or not: the same answer
            refused(people[who].put(f"/dc/{dc}", {"image_limit": 9}), 403, DENIED)
    unauthenticated(people["nobody"].put("/dc/main", {"image_limit": 9}))
    refused(people["admin"].put("/dc/nowhere", {"image_limit": 9}), 404,
            {"detail": http_texts.DC_NOT_FOUND})
    assert ok(people["admin"].get("/dc", params={"full": "1"})) == [
        dc_object("dc2", 4), dc_object("main", None)]


@pytest.mark.parametrize(("body", "errors"), [
    ({"image_limit": "many"}, {"image_limit": [field_texts.WHOLE_NUMBER]}),
    ({"image_limit": 2.5}, {"image_limit": [field_texts.WHOLE_NUMBER]}),
    ({"image_limit": True}, {"image_limit": [field_texts.WHOLE_NUMBER]}),
    ({"image_limit": -1}, {"image_limit": [field_texts.at_least(0)]}),
    ({"image_limit": "-3", "signed_only": "maybe"},
     {"image_limit": [field_texts.at_least(0)], "signed_only": [field_texts.INVALID]}),
    ({"image_limit": 7, "signed_only": None}, {"signed_only": [field_texts.NOT_NULL]}),
])
def test_dc_field_errors_change_nothing(people, body, errors):
    assert failure(people["admin"].put("/dc/dc2", body)) == errors
    assert ok(people["admin"].get("/dc/dc2")) == dc_object("dc2", 4)


def test_a_body_that_is_not_an_object_is_malformed(people):
    answer = people["admin"].request("PUT", "/dc/main", data="[1, 2]")
    refused(answer, 400, {"detail": http_texts.MALFORMED_REQUEST})


def test_super_admin_requires_signed_images_where_the_cli_reads_it(people):
    admin = people["admin"]
    assert ok(admin.put("/dc/dc2", {"signed_only": "true", "image_limit": "5"})) == dc_object(
        "dc2", 5, signed_only=True)
    assert dc_trust.read_trust("dc2")["signed_only"] is True  # what imagectl dc show reads
    assert ok(people["carol"].get("/dc/dc2"))["signed_only"] is True
    assert ok(admin.put("/dc/dc2", {"signed_only": 0}))["signed_only"] is False
    refused(people["carol"].put("/dc/dc2", {"signed_only": True}), 403, DENIED)
    assert dc_trust.read_trust("dc2")["signed_only"] is False


# --- trusted keys ----------------------------------------------------------------------------
def test_super_admin_trusts_and_untrusts_minisign_keys(people, tmp_path):
    first, second = new_key_pair(tmp_path / "a"), new_key_pair(tmp_path / "b")
    admin = people["admin"]
    answer = admin.post("/dc/main/key", {"key": first.public_text})  # the whole .pub file
    assert ok(answer, 201) == dc_object("main", None, keys=[first])
    assert answer.headers["es_dc"] == "main" and "es_task_response" not in answer.headers
    both = ok(admin.post("/dc/main/key", {"key": second.public_line}), 201)  # its base64 line
    assert both["trusted_keys"][1] == {"key_id": second.key_id, "key": second.public_line,
                                       "comment": ""}
    assert ok(admin.post("/dc/main/key", {"key": first.public_text}), 201) == both  # again
    assert ok(people["alice"].get("/dc/main")) == both  # the DC's image admins see them
    assert dc_trust.read_trust("main")["trusted_keys"] == both["trusted_keys"]

    left = ok(admin.delete(f"/dc/main/key/{first.key_id.lower()}"))
    assert [key["key_id"] for key in left["trusted_keys"]] == [second.key_id]
    for gone in (first.key_id, "not-a-key-id"):
        refused(admin.delete(f"/dc/main/key/{gone}"), 404,
                {"detail": http_texts.KEY_NOT_FOUND})
    assert ok(admin.get("/dc/main"))["trusted_keys"] == left["trusted_keys"]


def test_only_super_admins_change_trusted_keys(people, tmp_path):
    key = new_key_pair(tmp_path)
    ok(people["admin"].post("/dc/main/key", {"key": key.public_text}), 201)
    for who in ("alice", "carol", "dave"):  # alice is image admin in main
        for dc in ("main", "nowhere"):
            refused(people[who].post(f"/dc/{dc}/key", {"key": key.public_text}), 403, DENIED)
            refused(people[who].delete(f"/dc/{dc}/key/{key.key_id}"), 403, DENIED)
    unauthenticated(people["nobody"].post("/dc/main/key", {"key": key.public_text}))
    unauthenticated(people["nobody"].delete(f"/dc/main/key/{key.key_id}"))
    for answer in (people["admin"].post("/dc/nowhere/key", {"key": key.public_text}),
                   people["admin"].delete(f"/dc/nowhere/key/{key.key_id}")):
        refused(answer, 404, {"detail": http_texts.DC_NOT_FOUND})
    assert ok(people["admin"].get("/dc/main"))["trusted_keys"] == [
        {"key_id": key.key_id, "key": key.public_line,
         "comment": f"minisign public key {key.printed_id}"}]


def _crafted_key(key_id: bytes | None = None) -> str:
    """A public key line as `minisign -G` writes one: "Ed", an 8-byte id, a 32-byte key."""
    return base64.b64encode(b"Ed" + (key_id or os.urandom(8)) + os.urandom(32)).decode()


def test_key_field_errors(people, tmp_path):
    admin, key = people["admin"], new_key_pair(tmp_path)
    ok(admin.post("/dc/main/key", {"key": key.public_text}), 201)
    same_id = _crafted_key(base64.b64decode(key.public_line)[2:10])
    for body, errors in (({}, [field_texts.REQUIRED]), ({"key": None}, [field_texts.NOT_NULL]),
                         ({"key": "not a key"}, [field_texts.KEY_INVALID]),
                         ({"key": 42}, [field_texts.KEY_INVALID]),
                         ({"key": key.public_line[:-4]}, [field_texts.KEY_INVALID]),
                         ({"key": same_id}, [field_texts.KEY_ID_TAKEN])):
        assert failure(admin.post("/dc/main/key", body)) == {"key": errors}, body
    assert len(ok(admin.get("/dc/main"))["trusted_keys"]) == 1


def test_a_dc_trusts_a_bounded_number_of_keys(people):
    admin = people["admin"]
    for _ in range(dc_trust.MAX_TRUSTED_KEYS):
        ok(admin.post("/dc/dc2/key", {"key": _crafted_key()}), 201)
    assert failure(admin.post("/dc/dc2/key", {"key": _crafted_key()})) == {
        "key": [field_texts.too_many_keys(dc_trust.MAX_TRUSTED_KEYS)]}
    assert len(ok(admin.get("/dc/dc2"))["trusted_keys"]) == dc_trust.MAX_TRUSTED_KEYS


# --- users -----------------------------------------------------------------------------------
def test_users_are_listed_for_super_admins_only(people):
    assert ok(people["admin"].get("/accounts/user")) == ["admin", "alice", "carol", "dave"]
    full = ok(people["admin"].get("/accounts/user", params={"full": "true"}))
    assert full[0] == {"username": "admin", "is_super_admin": True, "is_active": True,
                       "dc_roles": {}}
    assert full[1] == {"username": "alice", "is_super_admin": False, "is_active": True,
                       "dc_roles": {"main": ["admin", "image_admin", "image_import_admin"]}}
    for who in ("alice", "carol", "dave"):
        refused(people[who].get("/accounts/user"), 403, DENIED)
    unauthenticated(people["nobody"].get("/accounts/user"))


def test_a_user_sees_themself_and_no_other(people):
    assert ok(people["dave"].get("/accounts/user/dave")) == {
        "username": "dave", "is_super_admin": False, "is_active": True,
        "dc_roles": {"main": ["admin"]}}
    refused(people["dave"].get("/accounts/user/alice"), 403, DENIED)
    refused(people["dave"].get("/accounts/user/ghost"), 403, DENIED)  # no hint it is missing
    assert ok(people["admin"].get("/accounts/user/carol"))["dc_roles"] == {
        "dc2": ["admin", "image_admin", "image_import_admin"]}
    refused(people["admin"].get("/accounts/user/ghost"), 404,
            {"detail": http_texts.USER_NOT_FOUND})
    unauthenticated(people["nobody"].get("/accounts/user/dave"))


def test_roles_given_through_the_api_are_the_rights_the_api_checks(people):
    dave, admin = people["dave"], people["admin"]
    refused(dave.get("/image"), 403, DENIED)
    given = ok(admin.put("/accounts/user/dave", {"dc_roles": {
        "dc2": "admin,image_admin", "main": [], "deleted-dc": []}}))  # no role: dropped
    assert given == {"username": "dave", "is_super_admin": False, "is_active": True,
                     "dc_roles": {"dc2": ["admin", "image_admin"]}}
    assert ok(dave.get("/image")) == []
    assert ok(dave.get("/dc")) == ["dc2"]
    refused(dave.get("/dc/main"), 403, OBJECT_DENIED)


def test_a_deactivated_user_is_refused_and_comes_back_when_activated(people):
    carol, admin = people["carol"], people["admin"]
    assert ok(admin.put("/accounts/user/carol", {"is_active": "false"}))["is_active"] is False
    refused(carol.get("/dc"), 401, {"detail": http_texts.INVALID_API_KEY})
    assert ok(admin.put("/accounts/user/carol", {"is_active": "t"}))["is_active"] is True
    assert ok(carol.get("/dc")) == ["dc2"]


def test_the_last_active_super_admin_stays_active(people, clean):
    assert failure(people["admin"].put("/accounts/user/admin", {"is_active": False})) == {
        "is_active": [field_texts.LAST_SUPER_ADMIN]}
    assert ok(people["admin"].get("/accounts/user/admin"))["is_active"] is True
    clean.user("root", super_admin=True)
    assert ok(people["admin"].put("/accounts/user/root", {"is_active": False}))[
        "is_active"] is False


ROUNDS = 8


def test_super_admins_deactivating_each_other_at_once_leave_one(clean, admin):
    """Four SuperAdmins, each deactivating the next at the same instant through the API
    (barrier-released racers, one connection each): every round ends with exactly one of
    them active, in the table and through the API, and the others refused with the text."""
    from chalicelib.persistence.models import User
    from tests.integration.racing import Client, race
    names = ["sa0", "sa1", "sa2", "sa3"]
    for round_ in range(ROUNDS):
        apis = [Client(clean.user(name, super_admin=True)) for name in names]
        admin.put("/accounts/user/admin", {"is_active": False})  # out of the way
        try:
            answers = race(*[lambda i=i: apis[i].put(f"/accounts/user/{names[(i + 1) % 4]}",
                                                      {"is_active": False})
                             for i in range(4)],
                           prepare=lambda: [api.connect() for api in apis])
        finally:
            for api in apis:
                api.close()
        active = [name for name in names
                  if User.get(name, consistent_read=True).is_active]
        assert len(active) == 1, (round_, active, [a.text for a in answers])
        survivor = Api(clean.api_url, apis[names.index(active[0])].key)
        listed = survivor.get("/accounts/user", params={"full": "true"}).json()["result"]
        assert [u["username"] for u in listed if u["is_super_admin"] and u["is_active"]] \
            == active
        for answer in answers:
            assert answer.status_code in (200, 400, 401), answer.text
            if answer.status_code == 400:
                assert answer.json()["result"] == {"is_active": [
                    field_texts.LAST_SUPER_ADMIN]}, answer.text
        for name in names:
            User(name).delete()


def test_only_super_admins_change_a_user(people):
    for who in ("alice", "carol", "dave"):
        for name in (who, "admin", "ghost"):  # themself too: roles are the operator's
            refused(people[who].put(f"/accounts/user/{name}", {"dc_roles": {
                "main": ["admin", "image_admin"]}}), 403, DENIED)
    unauthenticated(people["nobody"].put("/accounts/user/dave", {"is_active": False}))
    refused(people["admin"].put("/accounts/user/ghost", {"is_active": True}), 404,
            {"detail": http_texts.USER_NOT_FOUND})
    assert ok(people["dave"].get("/accounts/user/dave"))["dc_roles"] == {"main": ["admin"]}


@pytest.mark.parametrize(("body", "errors"), [
    ({"is_active": "maybe"}, {"is_active": [field_texts.INVALID]}),
    ({"is_active": None}, {"is_active": [field_texts.NOT_NULL]}),
    ({"dc_roles": None}, {"dc_roles": [field_texts.NOT_NULL]}),
    ({"dc_roles": "main:admin"}, {"dc_roles": [field_texts.INVALID]}),
    ({"dc_roles": {"main": 3}}, {"dc_roles": [field_texts.INVALID]}),
    ({"dc_roles": {f"dc{n}": [] for n in range(101)}},
     {"dc_roles": [field_texts.too_many_items(100)]}),
    ({"dc_roles": {"main": ["admin", "boss"]}}, {"dc_roles": [field_texts.not_a_choice("boss")]}),
    ({"dc_roles": {"nowhere": ["admin"]}}, {"dc_roles": [field_texts.not_a_choice("nowhere")]}),
    ({"dc_roles": {"no/where": ["admin"]}}, {"dc_roles": [field_texts.not_a_choice("no/where")]}),
    ({"is_active": 2, "dc_roles": {"main": ["root"], "dc9": ["admin"]}},
     {"is_active": [field_texts.INVALID],
      "dc_roles": [field_texts.not_a_choice("root"), field_texts.not_a_choice("dc9")]}),
])
def test_user_field_errors_change_nothing(people, body, errors):
    assert failure(people["admin"].put("/accounts/user/dave", body)) == errors
    assert ok(people["admin"].get("/accounts/user/dave")) == {
        "username": "dave", "is_super_admin": False, "is_active": True,
        "dc_roles": {"main": ["admin"]}}


# --- Danube Cloud's client and `es help` -----------------------------------------------------
def test_danube_clouds_client_reads_and_changes_dcs_and_users(people, clean, tmp_path):
    client = Client(clean.api_url.rstrip("/"), api_key=clean.admin_key)
    assert client.get("/dc", full=True).content.result[0]["name"] == "dc2"
    changed = client.put("/dc/dc2", image_limit="12")  # `es` sends every value as text
    assert changed.ok and changed.content.result == dc_object("dc2", 12)
    assert changed.dc == "dc2"
    roles = client.put("/accounts/user/dave", is_active="false",
                       dc_roles={"main": "admin image_admin"})
    assert roles.ok and roles.content.result["dc_roles"] == {"main": ["admin", "image_admin"]}
    assert roles.content.result["is_active"] is False
    key = new_key_pair(tmp_path)
    trusted = client.post("/dc/dc2/key", key=key.public_text)
    assert trusted.status_code == 201 and trusted.content.result["trusted_keys"][0][
        "key_id"] == key.key_id
    assert client.delete(f"/dc/dc2/key/{key.key_id}").content.result["trusted_keys"] == []
    described = Client(clean.api_url.rstrip("/")).options("/accounts/user/x")
    assert described.content.result["methods"]["PUT"]["permissions"] == "SuperAdmins"
    assert described.content.result["methods"]["PUT"]["body"] == ["dc_roles", "is_active"]
    key_route = Client(clean.api_url.rstrip("/")).options("/dc/x/key").content.result
    assert key_route["methods"]["POST"]["asynchronous"] is False  # a 201 with no task to poll


# --- platform events and API changes ---------------------------------------------------------
def test_an_api_change_holds_until_a_newer_platform_event(people, clean):
    """The API leaves the stored event version alone: a repeated or older "DC State" event
    stays ignored, a newer one (the platform's next word) applies."""
    admin = people["admin"]
    clean.put_event("DC State", {"name": "dc2", "image_limit": 3, "version": 5})
    clean.events_delivered("on_platform_event")
    assert ok(admin.get("/dc/dc2"))["image_limit"] == 3
    assert ok(admin.put("/dc/dc2", {"image_limit": 7}))["image_limit"] == 7
    clean.put_event("DC State", {"name": "dc2", "image_limit": 3, "version": 5})
    clean.put_event("DC State", {"name": "dc2", "image_limit": 1, "version": 4})
    clean.events_delivered("on_platform_event")
    assert ok(admin.get("/dc/dc2"))["image_limit"] == 7
    ok(admin.put("/dc/dc2", {"signed_only": True}))
    clean.put_event("DC State", {"name": "dc2", "image_limit": 2, "version": 6})
    clean.events_delivered("on_platform_event")
    # no event carries signed_only or the keys: the newer one leaves them as they are
    assert ok(admin.get("/dc/dc2")) == dc_object("dc2", 2, signed_only=True)


def test_a_user_change_holds_until_a_newer_user_state(people, clean):
    admin = people["admin"]
    state = {"username": "dave", "is_super_admin": False, "is_active": True,
             "dc_roles": {"main": ["admin"]}}
    clean.put_event("User State", {**state, "version": 3})
    clean.events_delivered("on_platform_event")
    assert ok(admin.put("/accounts/user/dave", {"is_active": False, "dc_roles": {
        "dc2": ["admin"]}}))["is_active"] is False
    clean.put_event("User State", {**state, "version": 3})
    clean.put_event("User State", {**state, "version": 2})
    clean.events_delivered("on_platform_event")
    assert ok(admin.get("/accounts/user/dave")) == {
        "username": "dave", "is_super_admin": False, "is_active": False,
        "dc_roles": {"dc2": ["admin"]}}
    clean.put_event("User State", {**state, "version": 4})
    clean.events_delivered("on_platform_event")
    assert ok(admin.get("/accounts/user/dave")) == {**state}


def test_answers_match_the_documented_schemas(people, tmp_path):
    """The OpenAPI document's 200/201 schemas of these routes fit real answers (the fuzz test
    meets mostly refusals here: its example names do not exist)."""
    from jsonschema import Draft202012Validator

    from chalicelib.api.descriptions import document
    paths = document()["paths"]

    def check(path, method, status, answer):
        assert answer.status_code == int(status), answer.text
        schema = paths[path][method]["responses"][status]["content"]["application/json"]
        Draft202012Validator(schema["schema"]).validate(answer.json())

    admin, key = people["admin"], new_key_pair(tmp_path)
    check("/dc/{dc}/key", "post", "201", admin.post("/dc/main/key", {"key": key.public_text}))
    check("/dc", "get", "200", admin.get("/dc", params={"full": "true"}))
    check("/dc", "get", "200", people["alice"].get("/dc"))
    check("/dc/{dc}", "get", "200", people["alice"].get("/dc/main"))
    check("/dc/{dc}", "put", "200", admin.put("/dc/main", {"signed_only": True}))
    check("/dc/{dc}/key/{key_id}", "delete", "200", admin.delete(f"/dc/main/key/{key.key_id}"))
    check("/accounts/user", "get", "200", admin.get("/accounts/user", params={"full": "1"}))
    check("/accounts/user/{username}", "get", "200", people["dave"].get("/accounts/user/dave"))
    check("/accounts/user/{username}", "put", "200", admin.put(
        "/accounts/user/dave", {"dc_roles": {"dc2": ["admin"]}}))
