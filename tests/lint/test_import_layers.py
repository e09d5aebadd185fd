"""The layers contract of ``make lint`` (import-linter, pyproject.toml) can fail: on a copy of
the apps, one upward import (the worklists importing the PKB bridge) breaks it, and the same
copy without it keeps it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("rms", "worklists", "careplans", "pkb_bridge", "clinic")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_tree(to: Path) -> None:
    for app in APPS:
        shutil.copytree(ROOT / app, to / app, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")


def _lint(where: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(  # noqa: S603 (our own venv's lint-imports, fixed arguments)
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")
def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    kept = _lint(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    (tmp_path / "worklists" / "upward.py").write_text("from pkb_bridge import models  # noqa\n")
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "BROKEN" in broken.stdout
    assert "worklists.upward -> pkb_bridge.models" in broken.stdout
