"""House rule: a module of the service (chalicelib/) or of the operator CLI (cli/) stays under
MAX_LINES lines, one job each; a longer one is split by its jobs (cli/imagectl.py was, into
cli/*_commands.py)."""
from __future__ import annotations

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAX_LINES = 400
CHECKED = ("chalicelib", "cli")


def test_every_module_of_the_service_and_the_cli_is_at_most_400_lines():
    too_long = {str(path.relative_to(ROOT)): count
                for folder in CHECKED
                for path in sorted((ROOT / folder).rglob("*.py"))
                if (count := len(path.read_text().splitlines())) > MAX_LINES}
    assert too_long == {}, f"split these by their jobs (at most {MAX_LINES} lines each)"


def test_the_check_sees_the_modules():
    # a wrong ROOT or folder would find nothing and pass whatever the sizes
    assert all(len(list((ROOT / folder).rglob("*.py"))) > 3 for folder in CHECKED)
