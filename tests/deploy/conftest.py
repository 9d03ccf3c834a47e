"""Fixtures for the deploy tests. They read files only: no Docker engine, no network."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deploy_checks  # noqa: E402


@pytest.fixture(scope="session")
def compose() -> dict:
    return deploy_checks.load_yaml(deploy_checks.COMPOSE_FILE)


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    return path


@pytest.fixture
def settings_env(monkeypatch):
    """Build workers.settings.Settings from a given mapping only, ignoring the caller's environment."""
    from workers.settings import Settings

    def build(env: dict[str, str]) -> Settings:
        for key in list(os.environ):
            if key.startswith("UNSPUN_") or key == "KAFKA_BROKER":
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        return Settings()

    return build

