"""docs/operations.md's commands are real: every ``manage.py`` command exists and accepts the
options shown, every page it sends an operator to resolves, every entry point command exists,
and every metric it names is one /metrics serves."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.urls import resolve
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "operations.md").read_text()
ENTRYPOINT = (ROOT / "docker" / "entrypoint.sh").read_text()

MANAGE_LINES = sorted(set(re.findall(r"python manage\.py ([^`\n]+)", DOC)))
PAGES = sorted(set(re.findall(r"`(/(?:admin|pkb)/[^`?\s]*)", DOC)))


def test_the_document_was_read() -> None:
    assert len(MANAGE_LINES) >= 6
    assert len(PAGES) >= 4


@pytest.mark.parametrize("line", MANAGE_LINES)
def test_each_manage_py_command_exists_with_the_options_shown(line: str) -> None:
    words = shlex.split(line.split(" < ")[0].split(" > ")[0], comments=True)
    name, arguments = words[0], words[1:]
    commands = get_commands()
    assert name in commands, f"no manage.py command {name!r}"
    command = load_command_class(commands[name], name)
    parser = command.create_parser("manage.py", name)
    parser.parse_args(arguments)  # raises CommandError on an unknown option


@pytest.mark.parametrize("page", PAGES)
def test_each_page_the_runbooks_name_exists(page: str) -> None:
    resolve(page)


def test_each_entry_point_command_the_document_uses_exists() -> None:
    used = set(re.findall(r"compose run --rm --no-deps web (\w+)", DOC))
    used |= set(re.findall(r'command: \["(\w+)"', DOC))
    assert used
    for command in used:
        assert re.search(rf"^  {command}\)$", ENTRYPOINT, re.MULTILINE), command


def test_each_metric_the_document_names_is_served(admin_client) -> None:
    served = set()
    for family in text_string_to_metric_families(admin_client.get("/metrics").content.decode()):
        served.add(family.name)
        if family.type == "counter":
            served.add(f"{family.name}_total")
    named = set(re.findall(r"\b(rms_(?:pkb|inbound|work|database|metrics)_[a-z_]+)", DOC))
    assert named
    assert named <= served, named - served
