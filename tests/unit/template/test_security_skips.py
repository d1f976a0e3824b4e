"""`make security` fails on any checkov or bandit finding that is not skipped; these tests make sure
every skip says why (issue #12: justified skips only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from activity_sync_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ("template.yaml", "syncer.yaml")
# bandit reads the test ids up to the next "#"; the reason follows as a comment of its own.
NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)$")
JUSTIFIED_NOSEC = re.compile(r"^\s+B\d{3}(,\s*B\d{3})*\s+#\s*\S.{5,}$")


def _python_sources() -> list[Path]:
    return sorted(
        path
        for folder in ("layers", "functions")
        for path in (ROOT / folder).rglob("*.py")
        if ".aws-sam" not in path.parts
    )


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_checkov_skip_names_a_check_and_gives_its_reason(name: str) -> None:
    # Given the template's resources
    resources = load_template(ROOT / name)["Resources"]

    # When their checkov skips are read
    skips = [
        (logical_id, skip)
        for logical_id, resource in resources.items()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    ]

    # Then there are some, and each names one check and says why in a sentence
    assert skips, f"{name}: no checkov skips found (has the Metadata layout changed?)"
    for logical_id, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip.get("id", "")), (logical_id, skip)
        assert len(str(skip.get("comment", "")).split()) >= 5, f"{logical_id}: {skip} gives no reason"


def test_every_bandit_nosec_names_its_test_and_gives_its_reason() -> None:
    # Given the Lambda code (the layer and the handlers)
    unjustified = []
    found = 0
    for path in _python_sources():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = NOSEC.search(line)
            if match is None:
                continue
            found += 1
            # Then each "# nosec" names the test ids it silences and says why
            if not JUSTIFIED_NOSEC.match(match.group("rest")):
                unjustified.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found, "no nosec markers found: has the scan lost its files?"
    assert not unjustified, "\n".join(unjustified)
