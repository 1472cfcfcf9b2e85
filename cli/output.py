"""How imagectl prints: JSON on stdout for scripts (`--json`), else aligned tables and
`key: value` blocks for people. Nothing here reads or writes a record."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

Column = tuple[str, Callable[[dict[str, Any]], Any]]


@dataclass
class Output:
    """What a command answers: `data` for --json, `text` for a person."""

    data: Any
    text: str


def emit(result: Output | str, as_json: bool, stream: TextIO) -> None:
    if isinstance(result, str):  # commands that answer a sentence only
        result = Output({"message": result}, result)
    if as_json:
        print(json.dumps(result.data, indent=2, sort_keys=True, default=str), file=stream)
    elif result.text:
        print(result.text, file=stream)


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], empty: str) -> str:
    """One line per row, columns padded to their widest cell; `empty` when there is none."""
    if not rows:
        return empty
    lines = [[title for title, _ in columns]]
    lines += [[cell(get(row)) for _, get in columns] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "\n".join("  ".join(text.ljust(width)
                               for text, width in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def block(pairs: Iterable[tuple[str, Any]]) -> str:
    """`key:  value` lines, the values aligned."""
    items = [(key, cell(value)) for key, value in pairs]
    width = max(len(key) for key, _ in items) + 1
    return "\n".join(f"{key + ':':<{width}}  {value}" for key, value in items)


def roles_text(dc_roles: dict[str, list[str]]) -> str:
    return " ".join(f"{dc}:{','.join(roles)}" for dc, roles in sorted(dc_roles.items()))


def limit_text(limit: int | None) -> str:
    return "unlimited" if limit is None else str(limit)


def progress_text(progress: dict[str, Any] | None) -> str:
    progress = progress or {}
    step = progress.get("step")
    if not step:
        return ""
    done, total, percent = (progress.get("bytes_done"), progress.get("bytes_total"),
                            progress.get("percent"))
    text = str(step)
    if percent is not None:
        text += f" {percent}%"
    if done:
        text += f" ({size_text(done)} of {size_text(total)})" if total \
            else f" ({size_text(done)})"
    return text


def size_text(count: int | None) -> str:
    if count is None:
        return "?"
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.1f} {unit}"
    return f"{count} B"


# --- users and DCs -----------------------------------------------------------------------------
USER_COLUMNS: list[Column] = [
    ("USER", lambda u: u["username"]), ("SUPERADMIN", lambda u: u["super_admin"]),
    ("ACTIVE", lambda u: u["active"]), ("API KEY", lambda u: u["api_key"]),
    ("PASSWORD", lambda u: u["password"]), ("ROLES", lambda u: roles_text(u["dc_roles"])),
]


def users(rows: list[dict[str, Any]]) -> Output:
    return Output(rows, table(rows, USER_COLUMNS, "no users"))


def user(view: dict[str, Any], headline: str = "") -> Output:
    text = block([("user", view["username"]), ("superadmin", view["super_admin"]),
                  ("active", view["active"]), ("roles", roles_text(view["dc_roles"])),
                  ("api key", "set" if view["api_key"] else "none"),
                  ("password", "set" if view["password"] else "none"),
                  ("login token until", view["login_token_expires"]),
                  *([("login locks", locks_text(view["login_locks"]))]
                    if "login_locks" in view else [])])
    return Output(view, f"{headline}\n{text}" if headline else text)


def locks_text(locks: list[dict[str, Any]]) -> str:
    """`ADDRESS: N attempts, locked until T` per count of failed logins ("none": no count)."""
    return "; ".join(f"{lock['address']}: {lock['attempts']} attempts" + (
        f", locked until {lock['locked_until']}" if lock["locked_until"] else "")
        for lock in locks) or "none"


DC_COLUMNS: list[Column] = [
    ("DC", lambda d: d["name"]), ("IMAGES", lambda d: d["image_count"]),
    ("LIMIT", lambda d: limit_text(d["image_limit"])),
]


def dcs(rows: list[dict[str, Any]]) -> Output:
    return Output(rows, table(rows, DC_COLUMNS, "no datacenters"))


def dc(view: dict[str, Any], headline: str = "") -> Output:
    pairs = [("datacenter", view["name"]), ("image limit", limit_text(view["image_limit"])),
             ("images bound", view["image_count"])]
    pairs += trust_pairs(view)
    if "images" in view:
        pairs += [("default", view["default"]), ("images", " ".join(view["images"])),
                  ("users", " ".join(f"{name}:{','.join(roles)}"
                                     for name, roles in sorted(view["users"].items())))]
    text = block(pairs)
    return Output(view, f"{headline}\n{text}" if headline else text)


def trust_pairs(view: dict[str, Any]) -> list[tuple[str, Any]]:
    keys = view.get("trusted_keys", [])
    return [("signed only", view.get("signed_only", False)),
            ("trusted keys", "; ".join(f"{key['key_id']}" + (f" ({key['comment']})"
                                                             if key["comment"] else "")
                                       for key in keys) or "none")]


def dc_trust(view: dict[str, Any], headline: str) -> Output:
    text = block([("datacenter", view["name"]), *trust_pairs(view)])
    return Output(view, f"{headline}\n{text}")


# --- images and tasks --------------------------------------------------------------------------
IMAGE_COLUMNS: list[Column] = [
    ("NAME", lambda i: i["name"]), ("UUID", lambda i: i["uuid"]),
    ("DC BOUND", lambda i: i["dc_bound"]), ("STATUS", lambda i: i["status"]),
    ("OWNER", lambda i: i["owner"]), ("SIZE MB", lambda i: i["size"]),
    ("TASK", lambda i: i["task_id"]),
]


def images(rows: list[dict[str, Any]]) -> Output:
    return Output(rows, table(rows, IMAGE_COLUMNS, "no images"))


TASK_COLUMNS: list[Column] = [
    ("TASK", lambda t: t["task_id"]), ("OPERATION", lambda t: t["operation"]),
    ("STATUS", lambda t: t["status"]), ("STATE", lambda t: t["state"]),
    ("DC", lambda t: t["dc"]), ("IMAGE", lambda t: t["image"]),
    ("CREATOR", lambda t: t["creator"]), ("CREATED", lambda t: t["created"]),
    ("PROGRESS", lambda t: progress_text(t["progress"])),
]


def tasks(rows: list[dict[str, Any]]) -> Output:
    return Output(rows, table(rows, TASK_COLUMNS, "no tasks"))


def task(detail: dict[str, Any], headline: str = "") -> Output:
    result = detail["result"] or {}
    text = block([("task", detail["task_id"]), ("operation", detail["operation"]),
                  ("status", detail["status"]), ("state", detail["state"]),
                  ("dc", detail["dc"]), ("image", detail["image"]),
                  ("image uuid", detail["image_uuid"]), ("creator", detail["creator"]),
                  ("owner", detail["owner"]), ("created", detail["created"]),
                  ("deadline", detail["deadline"]), ("finished", detail["finished"]),
                  ("progress", progress_text(detail["progress"])),
                  ("result", result.get("message") or result.get("detail"))])
    return Output(detail, f"{headline}\n{text}" if headline else text)


def task_line(detail: dict[str, Any]) -> str:
    """One line of `task show --follow`: what changed since the previous one."""
    return " ".join(part for part in (
        detail["task_id"], detail["status"], detail["state"],
        progress_text(detail["progress"])) if part)


# --- cleanup -----------------------------------------------------------------------------------
CLEANUP_JOBS = (("tasks_finished", "stuck tasks finished"),
                ("images_repaired", "pending images repaired"),
                ("checkpoints_removed", "leftover transfer checkpoints removed"),
                ("uploads_aborted", "stale multipart uploads aborted"),
                ("orphans_deleted", "orphaned store objects deleted"))


def cleanup(report: dict[str, Any]) -> Output:
    """One line per job (count, then the first items), and a total."""
    would = " (dry run: would be)" if report["dry_run"] else ""
    # tasks_past_deadline: a gauge for the alarm; those tasks are in tasks_finished already
    known = {key for key, _ in CLEANUP_JOBS} | {"dry_run", "records_expired",
                                                "tasks_past_deadline"}
    lines, total = [], 0
    for key, label in CLEANUP_JOBS:
        items = report[key]
        total += len(items)
        shown = f": {', '.join(items[:5])}{', ...' if len(items) > 5 else ''}" if items else ""
        lines.append(f"{len(items):>6}  {label}{would}{shown}")
    lines.append(f"{report['records_expired']:>6}  expired task records and log entries "
                 f"deleted{would}")
    total += report["records_expired"]
    for key, value in sorted(report.items()):  # counts of jobs added since
        if key not in known and isinstance(value, (int, list)) and not isinstance(value, bool):
            count = len(value) if isinstance(value, list) else value
            total += count
            lines.append(f"{count:>6}  {key.replace('_', ' ')}{would}")
    verb = "would change" if report["dry_run"] else "changed"
    lines.append(f"cleanup {'(dry run) ' if report['dry_run'] else ''}done: {verb} "
                 f"{total} thing(s)")
    return Output(report, "\n".join(lines))
