"""Cold imports: how long a fresh interpreter takes to import each handler, against ``import boto3``.

Each sample is a new process of the same interpreter (this one: ``.venv/bin/python``), in the
function's code directory with the function's environment (``SYNC_TYPE`` and the rest), timing the
import statement alone with ``time.perf_counter()`` (the interpreter's own start is left out, the same
for both). Byte code is already compiled, as it is in a deployed layer. Samples alternate between the
handlers and the baseline so that a busy moment of the machine does not fall on one of them only.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

BASELINE = "import boto3"

_TIMED_IMPORT = """
import sys, time
started = time.perf_counter()
import {module}
print((time.perf_counter() - started) * 1000)
"""


def time_import(module: str, *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> float:
    """Milliseconds one fresh process takes to import ``module``."""
    finished = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _TIMED_IMPORT.format(module=module)],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"importing {module} in {cwd} failed: {finished.stderr.strip()[-500:]}")
    return float(finished.stdout.strip().splitlines()[-1])


def measure_imports(
    handlers: Mapping[str, tuple[Path, Mapping[str, str]]], runs: int = 15
) -> dict[str, list[float]]:
    """Samples (ms) for ``import boto3`` and each handler (label -> (code dir, environment))."""
    samples: dict[str, list[float]] = {BASELINE: [], **{label: [] for label in handlers}}
    some_env = next(iter(handlers.values()))[1] if handlers else None
    for _ in range(runs):
        samples[BASELINE].append(time_import("boto3", env=some_env))
        for label, (code_dir, environment) in handlers.items():
            samples[label].append(time_import("app", cwd=code_dir, env=environment))
    return samples
