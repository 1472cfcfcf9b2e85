"""Login and logout as Danube Cloud does them (SPEC §4.11), over HTTP against the session's
stack: POST /accounts/login/ gives a token, `Authorization: Token` works on every route, a new
login replaces the token, a logout revokes it, tokens expire, failed logins are logged (and
throttled: test_login_throttle.py), and passwords never reach a log line."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import PASSWORD
from tests.support import Api, image_admin_roles

LOGIN_FAILED = {"detail": "Unable to log in with provided credentials."}


@pytest.fixture
def anon(clean) -> Api:
    return clean.api(None)


def login(anon: Api, username: str = "alice", password: str = PASSWORD, **kw):
    return anon.post("/accounts/login", {"username": username, "password": password}, **kw)


def with_token(clean, token: str) -> Api:
    api = clean.api(None)
    original = api.request

    def request(method, path, **kw):
        kw["headers"] = {"Authorization": f"Token {token}", **(kw.get("headers") or {})}
        return original(method, path, **kw)

    api.request = request  # type: ignore[method-assign]
    return api


def stored_user(username: str):
    from chalicelib.persistence.models import User
    return User.get(username, consistent_read=True)


# ---------------------------------------------------------------------------------------------
# login
# ---------------------------------------------------------------------------------------------
def test_login_answers_a_token_that_works_on_the_image_routes(clean, alice, anon):
    before = datetime.now(UTC)
    r = login(anon)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token", "expires", "detail"}
    assert body["detail"] == "Welcome to Danube Cloud API."
    assert r.headers["es_username"] == "alice"
    expires = datetime.fromisoformat(body["expires"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=3590) < expires <= before + timedelta(seconds=3601)
    # only the token's SHA-256 is stored
    user = stored_user("alice")
    assert body["token"] not in str(user.attribute_values)
    assert user.token_hash and len(user.token_hash) == 64

    as_alice = with_token(clean, body["token"])
    r = as_alice.get("/image")
    assert r.status_code == 200, r.text
    assert r.headers["es_username"] == "alice" and r.json()["status"] == "SUCCESS"
    assert as_alice.get("/task").status_code == 200
    # the header's scheme is case-insensitive, as in Danube Cloud
    r = clean.api(None).get("/image", headers={"Authorization": f"token {body['token']}"})
    assert r.status_code == 200, r.text


def test_login_without_trailing_slash_and_with_a_json_content_type(alice, anon):
    r = login(anon, slash=False)
    assert r.status_code == 200, r.text
    r = anon.post("/accounts/login", {"username": "alice", "password": PASSWORD},
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text


def test_a_token_is_not_an_api_key(clean, alice, anon):
    token = login(anon).json()["token"]
    r = clean.api(token).get("/image")  # as ES-API-KEY
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid API key."}


def test_api_keys_keep_working_in_both_headers(clean, alice, anon):
    assert login(anon).status_code == 200
    assert alice.get("/image").status_code == 200
    r = with_token(clean, alice.key).get("/image")
    assert r.status_code == 200, r.text


def test_an_unknown_token_is_invalid(clean, alice):
    for token in ("nonsense", "YWxpY2U.not-the-token", "Ym9i.x", "....", "YWxpY2U.a.b"):
        r = with_token(clean, token).get("/image")
        assert r.status_code == 401, token
        assert r.json() == {"detail": "Invalid token."}, token


@pytest.mark.parametrize("username,password", [
    ("alice", "wrong"),
    ("alice", PASSWORD.upper()),
    ("alice", PASSWORD + " "),
    ("nobody", PASSWORD),
    ("x" * 5000, PASSWORD),
    ("alice", "x" * 5000),
])
def test_bad_credentials(alice, anon, username, password):
    r = login(anon, username, password)
    assert r.status_code == 400, r.text
    assert r.json() == LOGIN_FAILED
    assert stored_user("alice").token_hash is None


@pytest.mark.parametrize("username,password", [("\ud800", "\udfff"), ("alice", "\ud800")])
def test_a_lone_surrogate_in_credentials_is_a_malformed_request(alice, anon, username, password):
    """Half a UTF-16 pair is no text (the one rule of every JSON body, login included)."""
    r = login(anon, username, password)
    assert (r.status_code, r.json()) == (400, {"detail": "Malformed request"}), r.text
    assert stored_user("alice").token_hash is None


def test_a_deactivated_user_cannot_log_in_and_its_token_stops_working(clean, alice, anon):
    from chalicelib.persistence.models import User
    token = login(anon).json()["token"]
    User("alice").update(actions=[User.is_active.set(False)])
    r = login(anon)
    assert r.status_code == 400, r.text
    assert r.json() == LOGIN_FAILED
    r = with_token(clean, token).get("/image")
    assert r.status_code == 401


def test_a_user_without_a_password_cannot_log_in(clean, anon):
    clean.user("keyonly", roles=image_admin_roles("main"))
    for password in ("", "x", PASSWORD):
        r = login(anon, "keyonly", password)
        assert r.status_code == 400, r.text
    assert login(anon, "keyonly", "x").json() == LOGIN_FAILED


def test_a_user_made_by_a_platform_event_logs_in_once_an_operator_sets_a_password(
        clean, anon):
    from chalicelib.services.identity import accounts
    clean.put_event("User State", {"username": "evuser", "is_super_admin": False,
                                   "is_active": True, "dc_roles": image_admin_roles("main"),
                                   "version": 1})
    clean.events_delivered("on_platform_event")
    assert stored_user("evuser").password_hash is None
    assert login(anon, "evuser", "anything").json() == LOGIN_FAILED
    accounts.set_password("evuser", "evpass")
    r = login(anon, "evuser", "evpass")
    assert r.status_code == 200, r.text
    assert with_token(clean, r.json()["token"]).get("/image").status_code == 200
    # a later event keeps the password (events carry no secrets)
    clean.put_event("User State", {"username": "evuser", "is_super_admin": False,
                                   "is_active": True, "dc_roles": {}, "version": 2})
    clean.events_delivered("on_platform_event")
    assert login(anon, "evuser", "evpass").status_code == 200


@pytest.mark.parametrize("body,errors", [
    ({}, {"username": ["This field is required."], "password": ["This field is required."]}),
    ({"username": "alice"}, {"password": ["This field is required."]}),
    ({"password": PASSWORD}, {"username": ["This field is required."]}),
    ({"username": "", "password": ""},
     {"username": ["This field may not be blank."], "password": ["This field may not be blank."]}),
    ({"username": None, "password": PASSWORD}, {"username": ["This field may not be null."]}),
    ({"username": ["alice"], "password": {"a": 1}},
     {"username": ["Not a valid string."], "password": ["Not a valid string."]}),
    ({"username": "alice", "password": True}, {"password": ["Not a valid string."]}),
])
def test_missing_or_malformed_fields(alice, anon, body, errors):
    """Danube Cloud's api_login answers the serializer's errors under `detail`."""
    r = anon.post("/accounts/login", body)
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": errors}


def test_login_takes_only_a_json_object_and_only_post(alice, anon):
    r = anon.request("POST", "/accounts/login", data=b'{"username": ')
    assert r.status_code == 400 and r.json() == {"detail": "Malformed request"}
    r = anon.get("/accounts/login")
    assert r.status_code == 405, r.text
    r = anon.request("POST", "/accounts/login", data=b"")
    assert r.status_code == 400
    assert r.json()["detail"]["username"] == ["This field is required."]


# ---------------------------------------------------------------------------------------------
# tokens: one per user, revoked by logout, by a new password, and by time
# ---------------------------------------------------------------------------------------------
def test_logout_revokes_the_token(clean, alice, anon):
    token = login(anon).json()["token"]
    as_alice = with_token(clean, token)
    assert as_alice.get("/image").status_code == 200
    r = as_alice.get("/accounts/logout")
    assert r.status_code == 200, r.text
    assert r.json() == {"detail": "Bye."}
    assert r.headers["es_username"] == "alice"
    r = as_alice.get("/image")
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid token."}
    assert as_alice.get("/accounts/logout").status_code == 401
    assert stored_user("alice").token_hash is None
    # the API key is not a login: it keeps working, and a logout with it revokes nothing
    token = login(anon).json()["token"]
    r = alice.get("/accounts/logout")
    assert r.status_code == 200 and r.json() == {"detail": "Bye."}
    assert alice.get("/image").status_code == 200
    assert with_token(clean, token).get("/image").status_code == 200


def test_logout_needs_credentials(anon, alice):
    r = anon.get("/accounts/logout")
    assert r.status_code == 401
    assert r.json() == {"detail": "Authentication credentials were not provided."}


def test_a_new_login_replaces_the_previous_token(clean, alice, anon):
    first = login(anon).json()["token"]
    second = login(anon).json()["token"]
    assert first != second
    r = with_token(clean, first).get("/image")
    assert r.status_code == 401 and r.json() == {"detail": "Invalid token."}
    assert with_token(clean, second).get("/image").status_code == 200
    # logging the old token out does not revoke the new one
    assert with_token(clean, first).get("/accounts/logout").status_code == 401
    assert with_token(clean, second).get("/image").status_code == 200


def test_a_new_password_revokes_the_token(clean, alice, anon):
    from chalicelib.services.identity import accounts
    token = login(anon).json()["token"]
    accounts.set_password("alice", "another one")
    assert with_token(clean, token).get("/image").status_code == 401
    assert login(anon).status_code == 400
    assert login(anon, password="another one").status_code == 200


def test_tokens_expire_after_auth_token_seconds(clean, alice, anon, settings_override):
    """Driven by the token's stored expiry, not by waiting for it: the login sets it
    AUTH_TOKEN_SECONDS ahead, a use leaves it where it is (absolute), and once the clock is past
    it (the expiry moved just behind now) the token is refused."""
    from chalicelib.persistence.models import User
    lifetime = timedelta(seconds=3600)  # far beyond any machine's slowness within this test
    settings_override(AUTH_TOKEN_SECONDS=int(lifetime.total_seconds()))
    before = datetime.now(UTC)
    r = login(anon)
    assert r.status_code == 200, r.text
    expires = datetime.fromisoformat(r.json()["expires"].replace("Z", "+00:00"))
    assert before + lifetime <= expires <= datetime.now(UTC) + lifetime
    assert User.get("alice").token_expires == expires
    as_alice = with_token(clean, r.json()["token"])
    assert as_alice.get("/image").status_code == 200
    assert User.get("alice").token_expires == expires  # absolute: the use did not extend it
    User("alice").update(actions=[
        User.token_expires.set(datetime.now(UTC) - timedelta(microseconds=1))])
    r = as_alice.get("/image")
    assert r.status_code == 401, r.text
    # Danube Cloud: an expired token counts as no credentials
    assert r.json() == {"detail": "Authentication credentials were not provided."}


def test_an_expired_token_is_refused_and_a_login_gives_a_fresh_one(clean, alice, anon):
    from chalicelib.persistence.models import User
    token = login(anon).json()["token"]
    as_alice = with_token(clean, token)
    assert as_alice.get("/image").status_code == 200
    User("alice").update(actions=[
        User.token_expires.set(datetime.now(UTC) - timedelta(seconds=1))])
    assert as_alice.get("/image").status_code == 401
    fresh = login(anon).json()["token"]
    assert with_token(clean, fresh).get("/image").status_code == 200


# ---------------------------------------------------------------------------------------------
# failed logins: logged without the password (throttling: test_login_throttle.py)
# ---------------------------------------------------------------------------------------------
def test_failed_logins_are_logged_with_the_address_and_never_the_password(clean, alice, anon,
                                                                          caplog):
    secret = "sEcReT-" + "9" * 12
    caplog.set_level(logging.DEBUG)
    assert login(anon, password=secret).status_code == 400
    assert login(anon, "nobody", secret).status_code == 400
    assert login(anon, "alice\nforged line", secret).status_code == 400
    for _ in range(4):
        login(anon, password=secret)
    assert login(anon, password=secret).status_code == 429
    from chalicelib.services.identity import accounts
    accounts.set_password("alice", secret)
    token = login(anon, password=secret).json()["token"]
    with_token(clean, token).get("/accounts/logout")

    assert secret not in caplog.text
    assert token not in caplog.text
    for record in caplog.records:
        assert secret not in str(record.args) and secret not in record.getMessage()
    auth = [r for r in caplog.records if r.name == "imageapi.auth"]
    failed = [r.getMessage() for r in auth if r.levelno == logging.WARNING]
    assert any("'alice'" in m and "127.0.0.1" in m and "wrong password" in m for m in failed)
    assert any("'nobody'" in m and "127.0.0.1" in m and "unknown user" in m for m in failed)
    assert any("'alice\\nforged line'" in m for m in failed)  # escaped: one line
    assert any("throttled" in m and "'alice'" in m for m in failed)
    infos = [r.getMessage() for r in auth if r.levelno == logging.INFO]
    assert any(m.startswith("login: user 'alice' from 127.0.0.1") for m in infos)
    assert any(m.startswith("logout: user 'alice' from 127.0.0.1") for m in infos)
