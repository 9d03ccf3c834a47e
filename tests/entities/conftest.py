import pytest

from workers.entities import EntityExtractor


@pytest.fixture(scope="session")
def extractor() -> EntityExtractor:
    """One extractor (and one model load) for the whole session."""
    return EntityExtractor()
