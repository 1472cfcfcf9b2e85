"""What a stranger's attack on the admin API, signatures and the console found (issues 20/21),
each over HTTP against the local stack: a lone surrogate in a JSON body, integers past any
real field's range, the console's answers without its security headers, and `If-None-Match`
forms that RFC 9110 says match."""
from __future__ import annotations

import base64
import os
from urllib.parse import urlsplit

import pytest
import requests

from chalicelib.domain import field_texts, http_texts

MALFORMED = {"detail": http_texts.MALFORMED_REQUEST}


def a_key_line() -> str:
    """A well-formed minisign public key's base64 line: "Ed", key id, Ed25519 key."""
    return base64.b64encode(b"Ed" + os.urandom(40)).decode()


def root(stack) -> str:
    parts = urlsplit(stack.api_url)
    return f"{parts.scheme}://{parts.netloc}"


# --- JSON bodies --------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\udc00\ud800"])
def test_a_lone_surrogate_in_a_body_is_a_malformed_request(clean, admin, text):
    """JSON may escape half a UTF-16 pair (`"\\ud800"`); no store can keep it (DynamoDB
    refuses it, the emulator failed with 503 and a traceback): 400, nothing written."""
    answer = admin.post("/dc/main/key", {"key": f"untrusted comment: {text}\n{a_key_line()}"})
    assert (answer.status_code, answer.json()) == (400, MALFORMED)
    assert admin.get("/dc/main").json()["result"]["trusted_keys"] == []


def test_a_whole_surrogate_pair_and_other_unicode_are_kept(clean, admin):
    comment = "klíč 🔑"  # json.dumps sends 🔑 as the pair "\ud83d\udd11": valid
    answer = admin.post("/dc/main/key", {"key": f"untrusted comment: {comment}\n{a_key_line()}"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["result"]["trusted_keys"][0]["comment"] == comment


@pytest.mark.parametrize("number", [10 ** 18, 10 ** 40, 2 ** 200, 1e308, -(10 ** 18)])
def test_an_integer_past_18_digits_is_not_a_whole_number(clean, admin, number):
    """A JSON number gets the bound its string spelling has ("9" * 19 was refused, 10 ** 40
    stored); DynamoDB refuses more than 38 significant digits or past 1E+125."""
    answer = admin.put("/dc/main", {"image_limit": number})
    assert answer.status_code == 400, answer.text
    assert answer.json()["result"] == {"image_limit": [field_texts.WHOLE_NUMBER]}
    assert admin.get("/dc/main").json()["result"]["image_limit"] is None


def test_the_largest_18_digit_integer_is_still_one(clean, admin):
    answer = admin.put("/dc/main", {"image_limit": 10 ** 18 - 1})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["image_limit"] == 10 ** 18 - 1


def test_a_refused_role_name_is_quoted_cut(clean, admin):
    """An unknown role is quoted in its error text like an unknown DC: at most 64 characters
    (a 100 KB role name was echoed back whole)."""
    answer = admin.put("/accounts/user/admin", {"dc_roles": {"main": ["r" * 100_000]}})
    assert answer.status_code == 400
    assert answer.json()["result"] == {"dc_roles": [field_texts.not_a_choice("r" * 64 + "...")]}


# --- the console's answers ----------------------------------------------------------------

def assert_security_headers(answer: requests.Response) -> None:
    policy = answer.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, answer.headers
    assert answer.headers.get("X-Content-Type-Options") == "nosniff"
    assert answer.headers.get("Referrer-Policy") == "no-referrer"
    assert answer.headers.get("X-Frame-Options") == "DENY"


@pytest.mark.parametrize("path", ["/console/nothing.js", "/console/js/nothing.js",
                                  "/console/%2e%2e%2fapp.py", "/api/console/INDEX.HTML"])
def test_the_consoles_not_found_carries_its_security_headers(clean, path):
    answer = requests.get(root(clean) + path, timeout=30)
    assert (answer.status_code, answer.json()) == (404, {"detail": http_texts.NOT_FOUND})
    assert_security_headers(answer)


@pytest.mark.parametrize("path", ["/console", "/api/console"])
def test_the_consoles_redirect_carries_its_security_headers(clean, path):
    answer = requests.get(root(clean) + path, timeout=30, allow_redirects=False)
    assert answer.status_code == 301  # to the stage's console, where the gateway sends it
    assert answer.headers["Location"] == "/api/console/"
    assert_security_headers(answer)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_another_method_on_the_console_is_405_in_the_apis_words(clean, method):
    """Chalice's own 405 had its own body (`{"Code": "MethodNotAllowedError", …}`) and none
    of the console's headers."""
    answer = requests.request(method, root(clean) + "/console/", timeout=30)
    assert answer.status_code == 405
    assert answer.json() == {"detail": http_texts.method_not_allowed(method)}
    assert answer.headers["Allow"] == "GET, HEAD"
    assert_security_headers(answer)


@pytest.mark.parametrize("form", ["W/{tag}", "*", '"other", W/{tag}'])
def test_if_none_match_uses_the_weak_comparison(clean, form):
    """RFC 9110 §13.1.2: If-None-Match compares weakly (a proxy that compresses may weaken
    the tag it passes on), and `*` matches any current representation."""
    url = root(clean) + "/console/js/app.js"
    tag = requests.get(url, timeout=30).headers["ETag"]
    answer = requests.get(url, headers={"If-None-Match": form.format(tag=tag)}, timeout=30)
    assert (answer.status_code, answer.content) == (304, b"")
    assert answer.headers["ETag"] == tag
    assert_security_headers(answer)


def test_a_tag_of_another_file_does_not_match(clean):
    tag = requests.get(root(clean) + "/console/js/app.js", timeout=30).headers["ETag"]
    answer = requests.get(root(clean) + "/console/js/api.js",
                          headers={"If-None-Match": "W/" + tag}, timeout=30)
    assert answer.status_code == 200 and answer.content
