"""Fixtures: a small spinner table of our own (tests/restoration/data/mini_table) and restorers on it.

The n-gram model is the shipped one when present; otherwise the restorer runs without a context model
and tests that need one are skipped.
"""

from pathlib import Path

import pytest

from workers.restoration.restorer import Restorer, _load_model, _NullModel
from workers.restoration.table import load_table

MINI = Path(__file__).parent / "data" / "mini_table"


@pytest.fixture(scope="session")
def mini_table():
    return load_table(MINI, use_cache=False)


@pytest.fixture(scope="session")
def model():
    m = _load_model()
    if isinstance(m, _NullModel):
        pytest.skip("n-gram model data not available")
    return m


@pytest.fixture(scope="session")
def restorer(mini_table, model):
    return Restorer(table=mini_table, model=model)
