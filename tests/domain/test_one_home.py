"""Each rule lives in one place (issue 18, items 11-14): these read the source tree, so a copy
written again elsewhere fails here."""
from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHALICELIB = ROOT / "chalicelib"


def _sources(*exempt: str) -> dict[str, str]:
    return {str(path.relative_to(ROOT)): path.read_text()
            for path in sorted(CHALICELIB.rglob("*.py"))
            if str(path.relative_to(ROOT)) not in exempt}


def test_only_persistence_conditional_swallows_a_lost_condition():
    pattern = re.compile(r"\bcondition_failed\b|\b(UpdateError|PutError|DeleteError)\b")
    home = ("chalicelib/persistence/conditional.py", "chalicelib/adapters/aws.py")
    found = [name for name, text in _sources(*home).items() if pattern.search(text)]
    assert found == [], "use chalicelib.persistence.conditional instead"


def _imports(path: pathlib.Path) -> set[str]:
    """Every chalicelib module the file imports, at its top or inside a function."""
    import ast
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("chalicelib.")}


def test_no_import_circle_among_the_entry_points():
    """api/http.py (every route) and api/openapi.py (one route) once imported each other."""
    modules = {f"chalicelib.api.{path.stem}": path
               for path in (CHALICELIB / "api").glob("*.py") if path.stem != "__init__"}
    graph = {name: _imports(path) & modules.keys() for name, path in modules.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(step == goal or (step not in seen and reaches(step, goal, seen | {step}))
                   for step in graph[start])

    circles = sorted(name for name in graph if reaches(name, name, {name}))
    assert circles == []


def test_every_platform_event_type_is_parsed_applied_and_described():
    from chalicelib.domain import platform_events
    from chalicelib.services.platform import read_models
    assert set(platform_events.PARSERS) == set(read_models.APPLIERS)
    assert set(platform_events.PARSERS) == set(platform_events.SCHEMA_FILES)


def test_the_environment_is_read_only_through_config():
    pattern = re.compile(r"\bos\.environ\b|\bos\.getenv\b|\bgetenv\(")
    found = [name for name, text in _sources("chalicelib/config.py").items()
             if pattern.search(text)]
    assert found == [], "add a field to config.Settings instead"


def test_settings_keep_no_second_set_of_defaults():
    import dataclasses

    from chalicelib.config import Settings
    with_defaults = [f.name for f in dataclasses.fields(Settings)
                     if f.default is not dataclasses.MISSING
                     or f.default_factory is not dataclasses.MISSING]
    assert with_defaults == [], "defaults live in config.load only"
