"""Scoring of restorations against known spins: the metrics every row of ``unspun eval`` reports.

A spun document comes with its spans (``emulate.SpunSpan``: where the spinner put a substitute and
what it replaced). Per row (spintax edits are not counted; the spinners make none):

- ``edit_precision``: applied edits that are right / applied edits, on spun documents. An edit is
  right when what it changes (words both sides share at its ends left out) lies inside one spun span, brings back at least one word of the original there and
  brings in no word that the original lacks (so "surface region" -> "surface area" is right whether
  the edit covers "region" or the whole phrase);
- ``word_recall``: spun words restored / spun words. A span's spun words are the word positions where
  the substitute differs from the original (token alignment, ``difflib``; a replaced, dropped or added
  word counts one); restored ones are those no longer differing after the edits inside the span;
- ``exact_restoration``: spans whose text after restoration equals the original (case-insensitive);
- ``span_recall``: spans overlapped by an applied edit;
- ``false_edits_per_1k_words``: applied edits per 1,000 whitespace words of the row's documents before
  spinning (also by source: ``news``, ``press``, ``pps``);
- ``doc_auc``: ROC AUC of ``spin_score`` separating spun from clean versions; ``ece``: expected
  calibration error (10 bins) of all proposed edits' confidences;
- ``knowledge``: spans whose spun form one of the restorer's families maps back to the original (the ceiling of
  its recall); ``top_misses`` / ``top_wrong``: the most frequent spans left unrestored
  ("substitute -> original") and wrong edits ("received -> restored"), for reading what fails;
- ``words_per_s``: whitespace words restored per second of the restoring thread's CPU time (one core,
  after warm-up; CPU time, so other load on the machine does not lower it).
"""

from __future__ import annotations

import bisect
import difflib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from workers.restoration.edits import Edit
from workers.restoration.emulate import SpunSpan
from workers.restoration.tokens import norms


@dataclass
class Doc:
    """One evaluation document: ``source`` ("senate", "ose", "gum", "pps"), ``clean`` text, and its
    spun version with the substitutions made (``spun``, ``spans``)."""

    id: str
    source: str
    clean: str
    spun: str = ""
    spans: list[SpunSpan] = field(default_factory=list)

    @property
    def words(self) -> int:
        return len(self.clean.split())

    @property
    def group(self) -> str:
        """Clean-text group for false edits: "press" (Senate releases), "pps" or "news"."""
        return {"senate": "press", "pps": "pps"}.get(self.source, "news")


@dataclass
class Tally:
    """Running counts for one row (see the module docstring for what each metric divides)."""

    edits: int = 0
    correct: int = 0
    spans: int = 0
    spans_touched: int = 0
    spans_exact: int = 0
    words_lost: int = 0
    words_restored: int = 0
    clean_words: dict = field(default_factory=dict)
    clean_edits: dict = field(default_factory=dict)
    scores: list = field(default_factory=list)  # (spin_score, is_spun)
    proposals: list = field(default_factory=list)  # (confidence, correct)
    words: int = 0
    seconds: float = 0.0
    spun_words: int = 0
    spans_known: int = 0
    misses: Counter = field(default_factory=Counter)
    wrong: Counter = field(default_factory=Counter)


def _matched(a: list[str], b: list[str]) -> int:
    return sum(m.size for m in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks())


def _wrong(orig: list[str], text: list[str]) -> int:
    """Word positions where ``text`` differs from ``orig``: a replaced, dropped or added word counts one."""
    m = _matched(orig, text)
    return max(len(orig) - m, len(text) - m)


def _apply(text: str, base: int, edits: list[Edit]) -> str:
    out, pos = [], 0
    for e in edits:
        out += [text[pos : e.start - base], e.restored]
        pos = e.end - base
    return "".join(out) + text[pos:]


def minimal(e: Edit) -> Edit:
    """``e`` without the whole words its two sides share at either end ("the mentioned" -> "the said"
    becomes "mentioned" -> "said"; at least one word stays on each side), so a restorer's wider phrase
    edit is judged by what it changes."""
    wa, wb = e.original.split(" "), e.restored.split(" ")
    i = j = 0
    while i + j < min(len(wa), len(wb)) - 1 and wa[i] == wb[i]:
        i += 1
    while i + j < min(len(wa), len(wb)) - 1 and wa[-1 - j] == wb[-1 - j]:
        j += 1
    if not i and not j:
        return e
    pa, sa = sum(len(w) + 1 for w in wa[:i]), sum(len(w) + 1 for w in wa[len(wa) - j :])
    pb, sb = sum(len(w) + 1 for w in wb[:i]), sum(len(w) + 1 for w in wb[len(wb) - j :])
    return Edit(e.start + pa, e.end - sa, e.original[pa : len(e.original) - sa],
                e.restored[pb : len(e.restored) - sb], e.confidence, e.kind)


@dataclass
class Judgement:
    """Outcome of one document's edits: ``ok`` per edit (same order), and span counts."""

    ok: list[bool]
    touched: int = 0
    exact: int = 0
    lost: int = 0
    restored: int = 0
    unrestored: list = field(default_factory=list)  # spans not restored exactly


def judge(edits: list[Edit], spans: list[SpunSpan]) -> Judgement:
    """Judge ``edits`` (offsets into the spun text, not overlapping one another) against ``spans``;
    each edit is first reduced to what it changes (``minimal``)."""
    edits = [minimal(e) for e in edits]
    spans = sorted(spans, key=lambda s: s.start)
    starts = [s.start for s in spans]
    inside: dict[int, list[Edit]] = {}
    straddled: set[int] = set()
    touched: set[int] = set()
    owner: list[int | None] = []
    for e in edits:
        own = None
        # spans do not overlap one another: only those from the last one starting at or before the edit
        for j in range(max(bisect.bisect_right(starts, e.start) - 1, 0), len(spans)):
            s = spans[j]
            if s.start >= e.end:
                break
            if e.start < s.end:
                touched.add(j)
                if s.start <= e.start and e.end <= s.end:
                    own = j
                else:
                    straddled.add(j)
        owner.append(own)
        if own is not None:
            inside.setdefault(own, []).append(e)
    res = Judgement(ok=[], touched=len(touched))
    for j, s in enumerate(spans):
        orig = norms(s.original)
        lost = _wrong(orig, norms(s.substitute))
        text = s.substitute if j in straddled else _apply(s.substitute, s.start, sorted(inside.get(j, []), key=lambda e: e.start))
        after = _wrong(orig, norms(text))
        res.lost += lost
        res.restored += max(0, lost - after)
        exact = " ".join(text.lower().split()) == " ".join(s.original.lower().split())
        res.exact += exact
        if not exact:
            res.unrestored.append(s)
    for e, own in zip(edits, owner):
        if own is None:
            res.ok.append(False)
            continue
        s = spans[own]
        orig = norms(s.original)
        gain = _wrong(orig, norms(_apply(s.substitute, s.start, [e]))) < _wrong(orig, norms(s.substitute))
        res.ok.append(gain and set(norms(e.restored)) <= set(orig))
    return res


def evaluate(restorer, docs: list[Doc], clean_cache: dict | None = None) -> Tally:
    """Restore the spun and clean version of every document and tally the metrics. ``clean_cache``
    ({doc id: Restoration}) reuses the clean documents' results of a restorer with the same knowledge
    (their time is then not counted in ``words_per_s``)."""
    t = Tally()
    reverses = [f.table.reverse for f in getattr(restorer, "families", ())]
    restorer.restore("Warm-up sentence: the company said on Monday.")
    for d in docs:
        rc = clean_cache.get(d.id) if clean_cache is not None else None
        t0 = time.thread_time()
        if rc is None:
            rc = restorer.restore(d.clean)
            t.words += d.words
            if clean_cache is not None:
                clean_cache[d.id] = rc
        rs = restorer.restore(d.spun)
        t.seconds += time.thread_time() - t0
        t.words += len(d.spun.split())
        ce = [e for e in rc.edits if e.kind != "spintax"]
        t.clean_words[d.group] = t.clean_words.get(d.group, 0) + d.words
        t.clean_edits[d.group] = t.clean_edits.get(d.group, 0) + len(ce)
        t.scores += [(rc.spin_score, 0), (rs.spin_score, 1)]
        applied = [e for e in rs.edits if e.kind != "spintax"]
        j = judge(applied, d.spans)
        t.edits += len(applied)
        t.correct += sum(j.ok)
        t.spans += len(d.spans)
        t.spans_touched += j.touched
        t.spans_exact += j.exact
        t.words_lost += j.lost
        t.words_restored += j.restored
        t.spun_words += len(d.spun.split())
        for s in d.spans:
            key = tuple(norms(s.substitute))
            t.spans_known += any(c.original.lower() == s.original.lower() for r in reverses for c in r.get(key, ()))
        t.misses.update(f"{s.substitute.lower()} -> {s.original.lower()}" for s in j.unrestored)
        t.wrong.update(f"{e.original} -> {e.restored}" for e, o in zip(applied, j.ok) if not o)
        rejected = [e for e in rs.rejected if e.kind != "spintax"]
        t.proposals += [(e.confidence, int(o)) for e, o in zip(applied, j.ok)]
        t.proposals += [(e.confidence, int(o)) for e, o in zip(rejected, judge(rejected, d.spans).ok)]
        t.proposals += [(e.confidence, 0) for e in rc.edits + rc.rejected if e.kind != "spintax"]
    return t


def roc_auc(scores: Iterable[tuple[float, int]]) -> float:
    """ROC AUC of (score, label) pairs (ties count one half); NaN with one class only."""
    arr = np.array(list(scores), dtype=float).reshape(-1, 2)
    pos, neg = arr[arr[:, 1] == 1, 0], arr[arr[:, 1] == 0, 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    # Mann-Whitney U: per positive, negatives below it plus half the ties
    neg = np.sort(neg)
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(pos) * len(neg)))


def ece(proposals: list[tuple[float, int]], bins: int = 10) -> float:
    """Expected calibration error of (confidence, correct) pairs over equal-width bins."""
    if not proposals:
        return float("nan")
    a = np.array(proposals, dtype=float)
    idx = np.minimum((a[:, 0] * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.sum() / len(a) * abs(a[m, 0].mean() - a[m, 1].mean())
    return float(err)


def summarise(t: Tally) -> dict:
    """Metrics of a tally as a JSON-ready dict (see the module docstring)."""
    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    out = {
        "edit_precision": ratio(t.correct, t.edits),
        "word_recall": ratio(t.words_restored, t.words_lost),
        "exact_restoration": ratio(t.spans_exact, t.spans),
        "span_recall": ratio(t.spans_touched, t.spans),
        "knowledge": ratio(t.spans_known, t.spans),
        "false_edits_per_1k_words": 1000 * ratio(sum(t.clean_edits.values()), sum(t.clean_words.values())),
        "words_per_s": ratio(t.words, t.seconds),
        "doc_auc": roc_auc(t.scores),
        "ece": ece(t.proposals),
        "edits": t.edits,
        "spun_spans": t.spans,
        "spun_words": t.words_lost,
        "substitutions_per_100_words": 100 * ratio(t.spans, t.spun_words),
        "clean_words": sum(t.clean_words.values()),
    }
    out["top_misses"] = [f"{k} ({n})" for k, n in t.misses.most_common(12)]
    out["top_wrong"] = [f"{k} ({n})" for k, n in t.wrong.most_common(12)]
    for g in sorted(t.clean_words):
        out[f"false_edits_per_1k_words_{g}"] = 1000 * ratio(t.clean_edits.get(g, 0), t.clean_words[g])
    return out


def threshold_curve(t: Tally, thresholds=None) -> list[dict]:
    """Precision of proposals with confidence >= each threshold, and their right edits per spun span."""
    thresholds = np.linspace(0.05, 0.95, 19) if thresholds is None else thresholds
    a = np.array(t.proposals, dtype=float).reshape(-1, 2)
    out = []
    for th in thresholds:
        m = a[:, 0] >= th
        n = int(m.sum())
        c = float(a[m, 1].sum())
        out.append({"threshold": float(th), "precision": c / n if n else float("nan"),
                    "recall": c / t.spans if t.spans else float("nan")})
    return out
