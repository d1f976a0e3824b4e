"""Shared by the tests that run AWS in-process on moto: a clean, credential-less AWS environment."""

from __future__ import annotations

import pytest


def use_fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region, and nothing that would send boto3 to a real or local endpoint."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
