"""Test data of the linking tests: originals, different articles on the same topics, and a group
spinner dictionary the restorer's table does not hold (all written for these tests)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def originals() -> list[dict]:
    return json.loads((DATA / "originals.json").read_text())


@pytest.fixture(scope="session")
def same_topic() -> list[dict]:
    return json.loads((DATA / "same_topic.json").read_text())


@pytest.fixture(scope="session")
def groups() -> dict[str, list[str]]:
    from workers.evaluation.groupspin import load_groups

    return load_groups((DATA / "groups.txt").read_text().splitlines())


@pytest.fixture(scope="session")
def spun_copy(groups):
    """``spun_copy(article, seed)``: the article spun by the test dictionary at every occasion."""
    from workers.evaluation.groupspin import spin

    def make(article: dict, seed: int = 0, rate: float = 1.0) -> dict:
        rng = random.Random(seed)
        title, _ = spin(article["title"], groups, rate, rng)
        text, pairs = spin(article["text"], groups, rate, rng)
        return {"id": f"copy-{seed}-{article['id']}", "title": title, "text": text, "pairs": pairs}

    return make
