"""The JSON Schemas of unspun's messages (draft 2020-12), loaded once from ``schemas/``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

ARTICLE = "article.v1"
ENRICHED = "enriched.v1"
DEADLETTER = "deadletter.v1"


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    """Validator for schema ``name`` (e.g. ``"article.v1"``); raises ``FileNotFoundError`` if unknown."""
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def first_error(name: str, instance: object) -> str | None:
    """A one-line description of the first violation of schema ``name``, or None when valid."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    e = errors[0]
    where = "/".join(str(p) for p in e.absolute_path) or "(root)"
    return f"{where}: {e.message}"
