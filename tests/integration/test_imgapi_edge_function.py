"""The CloudFront Function of the IMGAPI file paths (infra/imgapi_edge.py), run with Node.

CloudFront's `cloudfront` module is replaced by a key-value store holding the token's SHA-256,
as `ImgapiTokenStore` does once the operator has put it (README "Compute nodes").
"""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess

from infra.imgapi_edge import EDGE_FUNCTION_CODE, TOKEN_KEY

TOKEN = "node-secret"
UUID = "0B8EC7A4-3D4E-4F52-9C3A-5D2C1E0F9A7B"
RUNNER = """
import { handler } from './function.mjs';
const cases = JSON.parse(process.argv[2]);
const results = [];
for (const request of cases) { results.push(await handler({request: request})); }
process.stdout.write(JSON.stringify(results));
"""


def _run(tmp_path, requests: list[dict]) -> list[dict]:
    fake = tmp_path / "node_modules" / "cloudfront"
    fake.mkdir(parents=True)
    (fake / "package.json").write_text('{"type": "module", "main": "index.js"}')
    stored = {TOKEN_KEY: hashlib.sha256(TOKEN.encode()).hexdigest()}
    (fake / "index.js").write_text(
        "const stored = " + json.dumps(stored) + ";\n"
        "export default { kvs: () => ({ get: async (key) => {\n"
        "  if (!(key in stored)) { throw new Error('no such key'); } return stored[key]; } }) };\n")
    (tmp_path / "function.mjs").write_text(EDGE_FUNCTION_CODE + "\nexport { handler };\n")
    (tmp_path / "run.mjs").write_text(RUNNER)
    done = subprocess.run(["node", "run.mjs", json.dumps(requests)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _request(uri: str, **headers: str) -> dict:
    return {"uri": uri, "querystring": {"channel": {"value": "x"}},
            "headers": {name.lower(): {"value": value} for name, value in headers.items()}}


def test_the_token_is_checked_and_the_path_becomes_the_store_key(tmp_path):
    basic = "Basic " + base64.b64encode(f"node:{TOKEN}".encode()).decode()
    wrong = "Basic " + base64.b64encode(b"node:wrong").decode()
    file_uri = f"/imgapi/images/{UUID}/file"
    results = _run(tmp_path, [
        _request(file_uri, Authorization=basic),
        _request(file_uri, **{"ES-NODE-TOKEN": TOKEN}),
        _request(file_uri, Authorization=f"Token {TOKEN}"),
        _request(file_uri, Authorization=wrong),
        _request(file_uri),
        _request("/imgapi/images/not-a-uuid/file", Authorization=basic),
        _request(f"/imgapi/images/{UUID}/other/file", Authorization=basic),
    ])
    for accepted in results[:3]:
        assert accepted["uri"] == f"/images/{UUID.lower()}/file"  # the store key
        assert accepted["querystring"] == {}
    assert [r.get("statusCode") for r in results[3:]] == [401, 401, 404, 404]
    assert json.loads(results[3]["body"]) == {"detail": "Invalid token."}
    assert json.loads(results[4]["body"]) == {
        "detail": "Authentication credentials were not provided."}
