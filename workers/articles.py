"""Decoding and validating one input message into an article dict.

Every reason a message cannot become an enriched event has a dead-letter ``kind`` (the list is
``KINDS``; README "Dead letters" explains each). Decoding never raises anything but ``Rejected``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import orjson

from workers.schemas import ARTICLE, DEADLETTER, first_error, validator
from workers.settings import Settings

#: Dead-letter kinds: the enum of schemas/deadletter.v1.json, the one place they are listed.
KINDS: tuple[str, ...] = tuple(validator(DEADLETTER).schema["properties"]["kind"]["enum"])
ARTICLE_FIELDS = ("id", "title", "text", "url", "source", "published_at")

# C0/C1 control characters except tab, newline, carriage return, form feed and vertical tab.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
# Two or more tags that plain text does not contain.
_HTML_TAG = re.compile(r"</?(?:html|head|body|p|div|span|br|a|b|i|em|strong|ul|ol|li|h[1-6]|script|style|table|tr|td)\b[^>]*>", re.I)


class Rejected(Exception):
    """A message that cannot be enriched: ``kind`` (one of ``KINDS``), a readable ``reason``,
    the ``article_id`` when it could be read, and ``error_class`` for processing errors."""

    def __init__(self, kind: str, reason: str, article_id: str | None = None, error_class: str | None = None):
        assert kind in KINDS, kind
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason
        self.article_id = article_id
        self.error_class = error_class


def derive_id(title: str | None, text: str) -> str:
    """Stable article id from content: ``"sha256:"`` + the first 24 hex digits of SHA-256(title NUL text)."""
    digest = hashlib.sha256(f"{title or ''}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest[:24]}"


_BLOCKS = ["p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "blockquote", "section", "article", "header", "footer"]


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment (BeautifulSoup, html.parser): block elements and ``<br>``
    end lines, inline elements (``<b>``, ``<a>``...) stay inside their sentence."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head"]):
        tag.decompose()
    for tag in soup.find_all(_BLOCKS):
        tag.insert_after("\n")
    text = re.sub(r"[ \t]*\n[ \t\n]*", "\n", soup.get_text())
    return text.strip()


def normalise_article(obj: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Check a decoded JSON object against the article schema and policies; return the article.

    The result has the ``ARTICLE_FIELDS`` (id always set) plus ``meta`` (every other input field)
    and ``html_stripped`` (bool). Raises ``Rejected`` with kind schema_violation, empty_text,
    too_long, control_chars or html.
    """
    error = first_error(ARTICLE, obj)
    raw_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    if error:
        raise Rejected("schema_violation", f"article does not match {ARTICLE}: {error}", raw_id)
    text: str = obj["text"]
    title = obj.get("title")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > settings.max_text_bytes:
        raise Rejected("too_long", f"text is {size} bytes; the limit (UNSPUN_MAX_TEXT_BYTES) is {settings.max_text_bytes}", raw_id)
    for field, value in (("text", text), ("title", title)):
        m = _CONTROL.search(value or "")
        if m:
            raise Rejected("control_chars", f"{field} holds control character U+{ord(m.group()):04X} at offset {m.start()}", raw_id)
    html_stripped = False
    if len(_HTML_TAG.findall(text)) >= 2:
        if settings.html_policy == "reject":
            raise Rejected("html", "text is HTML, not plain text (UNSPUN_HTML_POLICY=reject)", raw_id)
        text, html_stripped = html_to_text(text), True
    if title and _HTML_TAG.search(title):
        if settings.html_policy == "reject":
            raise Rejected("html", "title is HTML, not plain text (UNSPUN_HTML_POLICY=reject)", raw_id)
        title, html_stripped = html_to_text(title), True
    if not text.strip():
        raise Rejected("empty_text", "text is empty or whitespace only", raw_id)
    article = {k: obj.get(k) for k in ARTICLE_FIELDS}
    article["text"], article["title"] = text, title
    article["id"] = raw_id or derive_id(title, text)
    article["meta"] = exact_integers({k: v for k, v in obj.items() if k not in ARTICLE_FIELDS})
    article["html_stripped"] = html_stripped
    return article


_SURROGATE = re.compile(r"[\ud800-\udfff]")
# An integer literal this long may be outside 64 bits, which orjson silently turns into a float.
_LONG_DIGITS = re.compile(rb"\d{19,}")
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what orjson (and so the enriched event) can hold


def exact_integers(value: Any) -> Any:
    """Integers outside the 64-bit range orjson can encode, as their exact decimal string.

    Extra input fields go to the event's ``meta`` unchanged, but an event holding such an
    integer could not be encoded; the string keeps every digit (README "Messages").
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value if _INT_MIN <= value <= _INT_MAX else str(value)
    if isinstance(value, dict):
        return {k: exact_integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact_integers(v) for v in value]
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _replace_surrogates(value: Any) -> Any:
    # One code point for one keeps every offset valid, and the event stays encodable as UTF-8.
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def loads_exact(raw: bytes) -> Any:
    """Parse JSON with orjson, or with the stdlib parser where orjson would lose something: an integer
    beyond 64 bits (orjson makes it a float) or an escaped lone surrogate (valid JSON orjson refuses;
    replaced by U+FFFD). NaN and Infinity are refused as orjson refuses them. Raises ``ValueError``
    (or ``RecursionError`` for absurd nesting)."""
    if _LONG_DIGITS.search(raw):
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            if "surrogate" not in str(e):
                raise
    else:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            if "surrogate" not in str(e):
                raise
    return _replace_surrogates(json.loads(raw, parse_constant=_no_constants))


def decode_article(raw: bytes | None, settings: Settings) -> dict[str, Any]:
    """Decode one Kafka message value into a validated article (see ``normalise_article``).

    Raises ``Rejected`` with kind invalid_utf8, not_json or not_object before the article checks.
    """
    if raw is None or not raw.strip():
        raise Rejected("not_json", "message value is empty")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejected("invalid_utf8", f"message value is not UTF-8: {e.reason} at byte {e.start}") from None
    try:
        obj = loads_exact(raw)
    except (ValueError, RecursionError) as e:
        raise Rejected("not_json", f"message value is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise Rejected("not_object", f"message value is JSON {type(obj).__name__}, not an object")
    return normalise_article(obj, settings)
