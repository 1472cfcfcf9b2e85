"""`imageapi-node-agent [--config FILE]` (or `python -m nodeagent`): run the agent until SIGTERM."""
from __future__ import annotations

import argparse
import sys

from nodeagent import __version__, logs
from nodeagent.config import ENV_PREFIX, ConfigError, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="imageapi-node-agent",
        description="Export VM snapshots (zfs send | gzip) into the image service's store, "
                    "part by part through its API.",
        epilog=f"Every setting can also come from the environment: {ENV_PREFIX}<NAME>, e.g. "
               f"{ENV_PREFIX}NODE_TOKEN. See nodeagent/config.py for the list.")
    parser.add_argument("--config", metavar="FILE", help="TOML file with an [agent] table")
    parser.add_argument("--check", action="store_true",
                        help="read the configuration, print it (without secrets) and exit")
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"imageapi-node-agent: {exc}", file=sys.stderr)
        return 2
    if args.check:
        shown = {**config.__dict__, "node_token": "***" if config.node_token else ""}
        for name, value in shown.items():
            print(f"{name} = {value!r}")
        return 0
    from nodeagent.agent import Agent  # boto3 and requests load only for a real run
    logs.setup(config.log_level)
    agent = Agent(config)
    agent.install_signal_handlers()
    agent.run()
    return 0
