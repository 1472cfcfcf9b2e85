"""The agent's settings (file + environment) and its command line: nodeagent/config.py, cli.py."""
from __future__ import annotations

import pytest

from nodeagent import cli
from nodeagent.config import ConfigError, load
from nodeagent.export import ExportRequest

REQUIRED = {"IMAGEAPI_AGENT_API_URL": "https://images.example.com/api",
            "IMAGEAPI_AGENT_NODE": "cn07",
            "IMAGEAPI_AGENT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q"}


def write(tmp_path, text: str):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_a_file_with_the_environment_on_top(tmp_path):
    path = write(tmp_path, """
[agent]
api_url = "https://images.example.com/api"
node = "cn07"
queue_url = "https://sqs.eu-west-1.amazonaws.com/1/q"
max_exports = 3
part_size_mib = 16
bandwidth_limit_mib = 50
""")
    config = load(path, {"IMAGEAPI_AGENT_MAX_EXPORTS": "1", "IMAGEAPI_AGENT_NODE_TOKEN": "s"})
    assert (config.node, config.max_exports, config.part_size, config.bandwidth_limit) == (
        "cn07", 1, 16 << 20, 50 << 20)
    assert config.node_token == "s" and config.zfs == "zfs" and config.poll_seconds == 20


def test_the_environment_alone_is_enough():
    config = load(None, REQUIRED)
    assert (config.max_exports, config.part_size_mib, config.upload_workers) == (2, 8, 2)


@pytest.mark.parametrize("change, complaint", [
    ({"IMAGEAPI_AGENT_API_URL": ""}, "api_url is not set"),
    ({"IMAGEAPI_AGENT_API_URL": "ftp://x"}, "api_url must be an http(s) URL"),
    ({"IMAGEAPI_AGENT_PART_SIZE_MIB": "4"}, "part_size_mib must be between 5 and 5120"),
    ({"IMAGEAPI_AGENT_PART_SIZE_MIB": "lots"}, "part_size_mib must be a number"),
    ({"IMAGEAPI_AGENT_MAX_EXPORTS": "0"}, "max_exports must be at least 1"),
    ({"IMAGEAPI_AGENT_BANDWIDTH_LIMIT_MIB": "-1"}, "bandwidth_limit_mib must not be negative"),
    ({"IMAGEAPI_AGENT_POLL_SECONDS": "30"}, "poll_seconds must be between 1 and 20"),
    ({"IMAGEAPI_AGENT_GZIP_LEVEL": "10"}, "gzip_level must be between 0 and 9"),
])
def test_wrong_settings_are_named(change, complaint):
    with pytest.raises(ConfigError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        load(None, {**REQUIRED, **change})


def test_file_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.toml", REQUIRED)
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load(write(tmp_path, "[agent\n"), REQUIRED)
    with pytest.raises(ConfigError, match="unknown setting.*: aws_secret_access_key"):
        load(write(tmp_path, '[agent]\naws_secret_access_key = "x"\n'), REQUIRED)


def test_check_prints_the_settings_without_the_token(monkeypatch, capsys):
    for name, value in {**REQUIRED, "IMAGEAPI_AGENT_NODE_TOKEN": "very-secret"}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["--check"]) == 0
    out = capsys.readouterr().out
    assert "node = 'cn07'" in out and "node_token = '***'" in out
    assert "very-secret" not in out


def test_a_bad_configuration_exits_2_with_one_line(monkeypatch, capsys):
    monkeypatch.delenv("IMAGEAPI_AGENT_API_URL", raising=False)
    assert cli.main(["--config", "/nonexistent/agent.toml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imageapi-node-agent: cannot read /nonexistent/agent.toml")
    assert "\n" not in err


def test_request_parsing():
    body = {"type": "snapshot-export", "version": 2, "task_id": "t", "node": "cn07",
            "zfs_filesystem": "zones/a", "snapshot": "es-1", "export_token": "tok",
            "heartbeat_seconds": 100}
    request = ExportRequest.parse(body)
    assert (request.filesystem, request.snapshot, request.heartbeat_seconds) == (
        "zones/a", "es-1", 100)
    with pytest.raises(ValueError, match="missing export_token"):
        ExportRequest.parse({**body, "export_token": None})
    with pytest.raises(ValueError, match="not a snapshot-export request"):
        ExportRequest.parse({**body, "type": "other"})
