"""Tests are placed by kind, and marked by where they are: ``tests/unit`` (and the pure parts of
``tests/bench`` and ``tests/chaos``) needs no moto, sandbox or local stack; every test under a
directory that does gets its marker here, so ``pytest -m "not integration and not e2e"`` is the
fast suite whatever a file declares itself (``tests/unit/test_architecture.py`` keeps ``tests/unit``
free of them)."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MARKED_BY_DIRECTORY = {
    "integration": ("integration", "contract", "sandboxes", "local"),
    "e2e": ("e2e", "cli"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            top = Path(item.path).resolve().relative_to(TESTS).parts[0]
        except (ValueError, IndexError):
            continue
        for marker, directories in MARKED_BY_DIRECTORY.items():
            if top in directories and item.get_closest_marker(marker) is None:
                item.add_marker(getattr(pytest.mark, marker))
