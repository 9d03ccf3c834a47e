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
def spun_copy():
    """``spun_copy(article, seed, rate)``: the article spun by the test dictionary, at every occasion
    by default; ``pairs`` lists the substitutions made in the text."""
    from workers.evaluation.spinners import Spinner, group_file_spinner

    table = group_file_spinner(DATA / "groups.txt").table

    def make(article: dict, seed: int = 0, rate: float = 1.0) -> dict:
        spinner, rng = Spinner("test groups", table, (rate, rate)), random.Random(seed)
        title, _ = spinner.spin(article["title"], rng)
        text, pairs = spinner.spin(article["text"], rng)
        return {"id": f"copy-{seed}-{article['id']}", "title": title, "text": text, "pairs": pairs}

    return make
