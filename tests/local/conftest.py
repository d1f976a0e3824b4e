"""Fixtures of the local runtime tests: a template and the fixture functions copied to a temporary
directory, so that tests change the template freely and never depend on the real handlers.

One local stack runs per process at a time (moto's state is process-wide): a test module either
shares one module-scoped stack or starts its own per test, never both.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURE_FUNCTIONS = Path(__file__).with_name("fixture_functions")
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]

type MakeStackDir = Callable[[Path, str], Path]


def _make_stack_dir(directory: Path, template_text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    functions = directory / "functions"
    if not functions.exists():
        shutil.copytree(FIXTURE_FUNCTIONS, functions, ignore=shutil.ignore_patterns("__pycache__"))
    template = directory / "template.yaml"
    template.write_text(template_text, encoding="utf-8")
    return template


@pytest.fixture(scope="session")
def make_stack_dir() -> MakeStackDir:
    """``make_stack_dir(directory, template_text)`` writes ``directory/template.yaml`` beside a copy of
    every fixture function (``CodeUri: functions/<name>/``) and returns the template's path."""
    return _make_stack_dir


@pytest.fixture(scope="session")
def real_template() -> Path:
    return REPOSITORY_ROOT / "template.yaml"
