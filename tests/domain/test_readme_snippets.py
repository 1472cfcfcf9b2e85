"""Code the README shows is code that works: each snippet marked `<!-- snippet: NAME -->` is
run here against the service's own implementation."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(name: str) -> str:
    match = re.search(rf"<!-- snippet: {name} -->\s*```python\n(.*?)```", README.read_text(),
                      re.DOTALL)
    assert match, f"README has no snippet {name}"
    return match.group(1)


def test_a_receiver_verifies_a_callback_as_the_readme_shows():
    from chalicelib.domain.callbacks import payload, sign
    namespace: dict = {}
    exec(compile(snippet("verify-callback"), "README.md", "exec"), namespace)
    verify = namespace["callback_is_genuine"]
    key = "a" * 64
    body = repr(payload("eu-1", "SUCCESS", {"returncode": 0}, key)).encode()
    assert verify(body, sign(body, key), key)
    assert not verify(body + b" ", sign(body, key), key)
    assert not verify(body, sign(body, "b" * 64), key)
