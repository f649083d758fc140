"""The front door stays true: every command has help, the README names every command and option,
and CI runs exactly the README's test command."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from rewriter.cli import cli
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)


def test_there_are_the_commands_the_readme_promises():
    assert COMMANDS == ["apply", "batch", "check", "doctor", "eval", "review", "run"]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_and_is_documented(name):
    command = cli.commands[name]
    assert command.help and len(command.help) > 40
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output
    assert f"`rewriter {name}" in README, f"README does not document `rewriter {name}`"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{name} {param.opts[0]} has no help"
            assert any(opt in README for opt in param.opts), f"README never mentions {name} {param.opts[0]}"


def test_ci_runs_exactly_the_readme_test_command():
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    test_command = next(b for b in blocks if "pytest" in b)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command.strip() in ci


def test_the_seed_articles_are_the_shared_seeds_byte_for_byte():
    seeds = REPO.parent / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip("../shared/seeds is not beside this checkout")
    names = sorted(p.name for p in seeds.iterdir())
    assert names == sorted(p.name for p in (REPO / "articles").iterdir())
    for name in names:
        assert (seeds / name).read_bytes() == (REPO / "articles" / name).read_bytes()
