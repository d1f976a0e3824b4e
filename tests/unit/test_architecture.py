"""The house rules a reader relies on, checked on every run: no import circle anywhere (a module
that needs another that needs it back is one module split in two), and the layering of the product
(`lint-imports`, configured in pyproject.toml, runs in `make lint`; here, its contracts are read to
make sure they cover every top-level part of the package)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _circles(package: str) -> list[list[str]]:
    """Every set of modules of ``package`` that import each other round (Tarjan's strongly
    connected components of the import graph; an import made only for type checking counts too:
    it is a dependency all the same)."""
    graph = grimp.build_graph(package)
    edges = {
        m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i in graph.modules)
        for m in graph.modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # iterative, so that a deep graph needs no recursion limit
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


@pytest.mark.parametrize("package", ["activity_sync", "activity_sync_tools"])
def test_no_import_circle(package: str) -> None:
    assert _circles(package) == []


def test_the_import_contracts_place_every_part_of_the_product() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layered = {
        name.strip()
        for contract in config["contracts"]
        if contract["type"] == "layers"
        for layer in contract["layers"]
        for name in layer.split("|")
    }
    package = ROOT / "layers" / "activity_sync" / "activity_sync"
    parts = {
        f"activity_sync.{p.stem}"
        for p in package.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    # The shared kernel every layer may use: logging and metrics, configuration, chunking.
    shared = {
        "activity_sync.__init__",
        "activity_sync.observability",
        "activity_sync.config",
        "activity_sync.batching",
    }
    assert parts - shared - layered == set()


# What only the integration and end-to-end suites may use: moto, the sandboxes, the local stack.
NOT_FOR_UNIT_TESTS = re.compile(
    r"^\s*(?:from|import)\s+(?:moto\b|activity_sync_tools\.(?:sandbox|rehearsal|local\.(?:stack|aws|workers)))",
    re.MULTILINE,
)


def test_unit_tests_need_no_moto_no_sandbox_and_no_local_stack() -> None:
    offenders = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests" / "unit").rglob("*.py")
        if NOT_FOR_UNIT_TESTS.search(path.read_text(encoding="utf-8"))
    )
    assert offenders == []
