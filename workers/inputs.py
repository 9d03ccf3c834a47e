"""Reading articles from files for ``unspun produce`` and ``unspun restore``.

Formats: ``.txt`` (first line is the title and the rest the text; a single line is all text;
any other suffix is read as text too), ``.json`` (an article object or a list of them), ``.jsonl``
(one article object per line), and ``-`` for standard input: JSON (or JSON lines) when it starts
like JSON (``{"``, ``{}``, ``[{``, ``[]``), otherwise plain text, so "[Reuters] The company said..."
is text. ``fmt`` (``--format``) overrides the choice for every input. Files are UTF-8, with or without
a byte-order mark.
"""

from __future__ import annotations

import codecs
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from workers.articles import derive_id, loads_exact

#: Values of ``read_articles(fmt=...)``: "auto" decides by suffix (and, for standard input, by content).
FORMATS = ("auto", "text", "json", "jsonl")

_STARTS_LIKE_JSON = re.compile(r'\s*(?:\{\s*["}]|\[\s*[{\]])')


class InputError(Exception):
    """An input file that cannot be read as articles; the message names the file (and line)."""


def _from_text(content: str) -> dict[str, Any]:
    lines = content.strip("\n").split("\n", 1)
    if len(lines) == 1:  # a single line is the text, not a title with nothing under it
        return {"id": derive_id(None, lines[0]), "text": lines[0]}
    title, text = lines[0].strip(), lines[1].strip("\n")
    return {"id": derive_id(title, text), "title": title, "text": text}


def _loads(text: str) -> Any:
    """JSON as a message value is parsed (``articles.loads_exact``: integers beyond 64 bits kept exact).
    Raises ``ValueError``."""
    return loads_exact(text.encode("utf-8", "surrogatepass"))


def _with_id(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if not obj.get("id") and isinstance(obj.get("text"), str):
        obj = {"id": derive_id(obj.get("title"), obj["text"]), **obj}
    return obj


def _from_json_lines(content: str, name: str, hint: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for n, line in enumerate(content.splitlines(), 1):
        if line.strip():
            try:
                yield f"{name}:{n}", _with_id(_loads(line), f"{name}:{n}")
            except ValueError as e:
                raise InputError(f"{name}:{n}: not JSON: {e}{hint}") from None


def _from_json(content: str, name: str, hint: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        data = _loads(content)
    except ValueError as e:
        first = content.lstrip().split("\n", 1)[0]
        try:
            _loads(first)
        except ValueError:  # not JSON lines either: report where the document breaks
            raise InputError(f"{name}: not JSON: {e}{hint}") from None
        yield from _from_json_lines(content, name, hint)  # several objects: JSON lines after all
        return
    if data == []:
        raise InputError(f"{name}: empty, no articles")
    for i, obj in enumerate(data if isinstance(data, list) else [data]):
        where = f"{name}[{i}]" if isinstance(data, list) else name
        yield where, _with_id(obj, where)


def _read(path: str) -> tuple[str, str]:
    """(content, name) of a file or of standard input (``-``); raises ``InputError``."""
    try:
        if path == "-":
            stream = getattr(sys.stdin, "buffer", None)
            data = stream.read() if stream is not None else sys.stdin.read().encode("utf-8", "surrogatepass")
            name = "<stdin>"
        else:
            data, name = Path(path).read_bytes(), path
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as e:
        start = e.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)  # offset in the file
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1)
        raise InputError(
            f"{name}: not UTF-8 (line {line}, byte {column} of the line, {start} of the file): convert the file to UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8), unless it is not text at all"
        ) from None


def _is_json(content: str) -> bool:
    """Whether text starts like a JSON object or array and parses as JSON (or its first line does: JSON lines)."""
    if not _STARTS_LIKE_JSON.match(content):
        return False
    for candidate in (content, content.lstrip().split("\n", 1)[0]):
        try:
            _loads(candidate)
        except ValueError:
            continue
        return True
    return False


def read_articles(paths: list[str], fmt: str = "auto") -> Iterator[dict[str, Any]]:
    """The articles of :func:`read_located`, without where each came from."""
    for _, article in read_located(paths, fmt):
        yield article


def read_located(
    paths: list[str], fmt: str = "auto", warn: Callable[[str], None] | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(where, article)`` from ``paths``, in order: ``where`` is the file name for a text file
    or a single JSON object, ``name:line`` (from 1) for JSON lines, ``name[index]`` (from 0) for a
    JSON array; the article dict has its ``id`` filled in when the input has text.
    ``warn(message)`` is told when ``fmt`` "auto" reads a file as text (by its suffix) that is JSON:
    an article file saved as ``.txt`` or without suffix; it is still read as text.

    ``fmt``: one of ``FORMATS``. Objects are passed on as they are otherwise: validation happens
    where they are consumed. Raises ``InputError`` for a missing or unreadable file, bytes that are
    not UTF-8, an input with nothing but whitespace (whatever its format), or bad JSON (with the
    parser's line and column), including standard input that starts like JSON but does not parse.
    """
    for path in paths:
        content, name = _read(path)
        if not content.strip():
            raise InputError(f"{name}: empty, no articles")
        kind = fmt
        if kind == "auto":
            suffix = Path(path).suffix.lower()
            if path == "-":
                kind = "json" if _STARTS_LIKE_JSON.match(content) else "text"
            else:
                kind = {".json": "json", ".jsonl": "jsonl"}.get(suffix, "text")
                if kind == "text" and warn is not None and _is_json(content):
                    warn(f"{name}: looks like JSON but is read as text (not a .json or .jsonl file): pass --format json to read its articles")
        hint = " (pass --format text to read it as text)" if fmt == "auto" and path == "-" else ""
        if kind == "jsonl":
            yield from _from_json_lines(content, name, hint)
        elif kind == "json":
            yield from _from_json(content, name, hint)
        else:
            yield name, _from_text(content)
