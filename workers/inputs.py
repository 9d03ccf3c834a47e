"""Reading articles from files for ``unspun produce`` and ``unspun restore``.

Formats: ``.txt`` (first line is the title and the rest the text; a single line is all text;
any other suffix is read as text too), ``.json`` (an article
object or a list of them), ``.jsonl`` (one article object per line), and ``-`` for standard input
(JSON or JSON lines when it starts with ``{`` or ``[`` and parses as such, otherwise plain text).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import orjson

from workers.articles import derive_id


class InputError(Exception):
    """An input file that cannot be read as articles; the message names the file (and line)."""


def _from_text(content: str) -> dict[str, Any]:
    lines = content.lstrip("\ufeff").strip("\n").split("\n", 1)
    if len(lines) == 1:  # a single line is the text, not a title with nothing under it
        return {"id": derive_id(None, lines[0]), "text": lines[0]}
    title, text = lines[0].strip(), lines[1].strip("\n")
    return {"id": derive_id(title, text), "title": title, "text": text}


def _with_id(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if not obj.get("id") and isinstance(obj.get("text"), str):
        obj = {"id": derive_id(obj.get("title"), obj["text"]), **obj}
    return obj


def _from_json_lines(content: str, name: str) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(content.splitlines(), 1):
        if line.strip():
            try:
                yield _with_id(orjson.loads(line), f"{name}:{n}")
            except orjson.JSONDecodeError as e:
                raise InputError(f"{name}:{n}: not JSON: {e}") from None


def _from_json(content: str, name: str) -> Iterator[dict[str, Any]]:
    if not content.strip():
        raise InputError(f"{name}: empty file, no articles")
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        yield from _from_json_lines(content, name)  # several objects: JSON lines after all
        return
    for i, obj in enumerate(data if isinstance(data, list) else [data]):
        yield _with_id(obj, f"{name}[{i}]" if isinstance(data, list) else name)


def _looks_like_json(content: str) -> bool:
    """Standard input is JSON when it starts with ``{`` or ``[`` and, as a whole or by its first line
    (JSON lines), parses; "[Reuters] The company said..." is text."""
    head = content.strip()
    if not head.startswith(("{", "[")):
        return False
    for candidate in (head, head.split("\n", 1)[0]):
        try:
            orjson.loads(candidate)
            return True
        except orjson.JSONDecodeError:
            pass
    return False


def read_articles(paths: list[str]) -> Iterator[dict[str, Any]]:
    """Yield article dicts (``id`` filled in when the input has text) from ``paths``, in order.

    Objects are passed on as they are otherwise: validation happens where they are consumed.
    Raises ``InputError`` for a missing or unreadable file, undecodable bytes or bad JSON.
    """
    for path in paths:
        if path == "-":
            content, name = sys.stdin.read(), "<stdin>"
            suffix = ".json" if _looks_like_json(content) else ".txt"
        else:
            p = Path(path)
            try:
                content = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise InputError(f"{path}: cannot read: {e}") from None
            name, suffix = path, p.suffix.lower()
        if suffix == ".jsonl":
            yield from _from_json_lines(content, name)
        elif suffix == ".json":
            yield from _from_json(content, name)
        else:
            yield _from_text(content)
