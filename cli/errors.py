"""How a command says the input is wrong: one line on stderr, exit 2 (cli/imagectl.py main)."""
from __future__ import annotations


class CliError(Exception):
    """Bad input or a refused request, said in one line (exit 2)."""
