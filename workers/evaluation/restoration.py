"""Benchmark of the restorer (issue 3): precision, recall, false edits, spin detection, calibration, speed.

Data (read from ``shared``, see ``corpora.py``): held-out US Senate press releases (never in the n-gram
model), OneStopEnglish advanced texts and GUM Wikinews text. Spun/original pairs are made by the spinner
emulation (``workers.restoration.emulate``) from the same spinner table, each document with its own
random rate. Two settings: ``known`` (the restorer has the whole table) and ``withheld`` (a random 30 %
of the table's originals are removed from the restorer's table; the spinner still uses them).

Metrics (spintax edits are not counted; the emulation makes none):

- ``edit_precision``: applied edits whose span is a spun span and whose text equals the original
  (case-insensitive) / applied edits, on spun documents;
- ``span_recall``: spun spans overlapped by an applied edit / spun spans;
- ``exact_restoration``: spun spans restored to exactly the original text / spun spans;
- ``false_edits_per_1k_words``: applied edits per 1,000 whitespace words of clean (unspun) documents,
  separately for news (OneStopEnglish + GUM) and press releases (Senate);
- ``doc_auc``: ROC AUC of ``spin_score`` separating spun from clean versions of the documents;
- ``ece``: expected calibration error (10 equal-width bins) of all proposed edits' confidences;
- ``words_per_s``: whitespace words restored per second, one core, after warm-up.

Documents of the Senate held-out set alternate between a calibration split (even positions, used by
``fit_calibration``) and the test split (odd positions, used by ``run``).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from workers.evaluation import corpora
from workers.restoration.calibration import Calibration, doc_feature, fit_logistic, fit_platt
from workers.restoration.emulate import SpunSpan, spin
from workers.restoration.restorer import EDIT_FEATURES, Restorer
from workers.restoration.table import SpinnerTable, default_table

WITHHOLD = 0.3
RATE_RANGE = (0.4, 0.9)  # per-document probability that an occurrence of a table original is rewritten


# --------------------------------------------------------------------------- data


@dataclass
class Doc:
    """One evaluation document: ``source`` ("senate", "ose", "gum"), ``clean`` text, and its spun
    version with the substitutions made (``spun``, ``spans``)."""

    id: str
    source: str
    clean: str
    spun: str = ""
    spans: list[SpunSpan] = field(default_factory=list)

    @property
    def words(self) -> int:
        return len(self.clean.split())


def load_docs(shared: Path, quick: bool, split: str = "test") -> list[Doc]:
    """Evaluation documents (not yet spun). ``split``: "test" (odd Senate positions, all news) or
    "fit" (even Senate positions, plus the OneStopEnglish texts not used by the quick test)."""
    n_senate = 140 if quick else 700
    docs: list[Doc] = []
    parity = 1 if split == "test" else 0
    for k, (name, text) in enumerate(corpora.senate_held_out(shared, limit=2 * n_senate)):
        if k % 2 == parity:
            docs.append(Doc(name, "senate", text))
    ose = corpora.onestop_advanced(shared)
    if split == "test":
        docs += [Doc(n, "ose", t) for n, t in ose[1::2][: 40 if quick else None]]
        docs += [Doc(n, "gum", t) for n, t in corpora.gum_wikinews(shared)]
    else:
        docs += [Doc(n, "ose", t) for n, t in ose[0::2]]
    return docs


def spin_docs(docs: list[Doc], table: SpinnerTable, seed: int = 0) -> None:
    """Spin every document in place with a per-document rate drawn from ``RATE_RANGE``."""
    for k, d in enumerate(docs):
        rng = random.Random(seed * 1_000_003 + k)
        d.spun, d.spans = spin(d.clean, rate=rng.uniform(*RATE_RANGE), rng=rng, table=table)


def withheld_table(table: SpinnerTable, share: float = WITHHOLD, seed: int = 0) -> SpinnerTable:
    """``table`` without a random ``share`` of its distinct originals."""
    originals = sorted({e.original.lower() for e in table.entries})
    rng = random.Random(seed)
    drop = rng.sample(originals, int(round(share * len(originals))))
    return table.without(drop)


# --------------------------------------------------------------------------- scoring


@dataclass
class Tally:
    """Running counts for one setting."""

    edits: int = 0
    correct: int = 0
    spans: int = 0
    spans_touched: int = 0
    spans_exact: int = 0
    clean_words: dict = field(default_factory=lambda: {"news": 0, "press": 0})
    clean_edits: dict = field(default_factory=lambda: {"news": 0, "press": 0})
    scores: list = field(default_factory=list)  # (spin_score, is_spun)
    proposals: list = field(default_factory=list)  # (confidence, correct)
    words: int = 0
    seconds: float = 0.0
    spun_words: int = 0
    spun_tokens_changed: int = 0


def _judge(edits, spans: list[SpunSpan]) -> tuple[list[bool], int, int]:
    """Per edit: correct?; and counts of spans touched and restored exactly."""
    by_span = {(s.start, s.end): s for s in spans}
    ok = []
    for e in edits:
        s = by_span.get((e.start, e.end))
        ok.append(s is not None and e.restored.lower() == s.original.lower())
    touched = exact = 0
    j = 0
    es = sorted(edits, key=lambda e: e.start)
    for s in spans:
        while j < len(es) and es[j].end <= s.start:
            j += 1
        if j < len(es) and es[j].start < s.end:
            touched += 1
            if es[j].start == s.start and es[j].end == s.end and es[j].restored == s.original:
                exact += 1
    return ok, touched, exact


def evaluate(restorer: Restorer, docs: list[Doc]) -> Tally:
    """Restore the spun and clean version of every document and tally the metrics."""
    t = Tally()
    restorer.restore("Warm-up sentence: the company said on Monday.")
    for d in docs:
        group = "press" if d.source == "senate" else "news"
        t0 = time.perf_counter()
        rc = restorer.restore(d.clean)
        rs = restorer.restore(d.spun)
        t.seconds += time.perf_counter() - t0
        t.words += d.words + len(d.spun.split())
        ce = [e for e in rc.edits if e.kind != "spintax"]
        t.clean_words[group] += d.words
        t.clean_edits[group] += len(ce)
        t.scores += [(rc.spin_score, 0), (rs.spin_score, 1)]
        applied = [e for e in rs.edits if e.kind != "spintax"]
        ok, touched, exact = _judge(applied, d.spans)
        t.edits += len(applied)
        t.correct += sum(ok)
        t.spans += len(d.spans)
        t.spans_touched += touched
        t.spans_exact += exact
        t.spun_words += len(d.spun.split())
        t.spun_tokens_changed += len(d.spans)
        allp = [e for e in rs.edits + rs.rejected if e.kind != "spintax"]
        okp, _, _ = _judge(allp, d.spans)
        t.proposals += [(e.confidence, int(o)) for e, o in zip(allp, okp)]
        t.proposals += [(e.confidence, 0) for e in rc.edits + rc.rejected if e.kind != "spintax"]
    return t


def roc_auc(scores: Iterable[tuple[float, int]]) -> float:
    """ROC AUC of (score, label) pairs (ties count one half); NaN with one class only."""
    arr = np.array(list(scores), dtype=float)
    if len(arr) == 0:
        return float("nan")
    s, y = arr[:, 0], arr[:, 1]
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    allv = np.concatenate([pos, neg])[order]
    ranks = np.empty(len(allv))
    # average ranks for ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[i : j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty(len(allv))
    r[order] = ranks
    rp = r[: len(pos)].sum()
    return float((rp - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


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
    """Metrics of a tally as a JSON-ready dict (see module docstring)."""
    def per1k(g: str) -> float:
        return 1000 * t.clean_edits[g] / max(1, t.clean_words[g])

    return {
        "edit_precision": t.correct / t.edits if t.edits else float("nan"),
        "span_recall": t.spans_touched / t.spans if t.spans else float("nan"),
        "exact_restoration": t.spans_exact / t.spans if t.spans else float("nan"),
        "edits": t.edits,
        "spun_spans": t.spans,
        "false_edits_per_1k_words_news": per1k("news"),
        "false_edits_per_1k_words_press": per1k("press"),
        "clean_words_news": t.clean_words["news"],
        "clean_words_press": t.clean_words["press"],
        "doc_auc": roc_auc(t.scores),
        "ece": ece(t.proposals),
        "words_per_s": t.words / t.seconds if t.seconds else float("nan"),
        "substitutions_per_100_spun_words": 100 * t.spun_tokens_changed / max(1, t.spun_words),
    }


def threshold_curve(t: Tally, thresholds=None) -> list[dict]:
    """Precision and restoration recall of proposals with confidence >= each threshold."""
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


# --------------------------------------------------------------------------- out-of-domain


def eval_examples(restorer: Restorer, shared: Path) -> dict:
    """Hand-spun examples: tokens differing from the original before and after restoration."""
    import difflib

    from workers.restoration.tokens import norms

    def diff(a: str, b: str) -> int:
        x, y = norms(a), norms(b)
        sm = difflib.SequenceMatcher(a=x, b=y, autojunk=False)
        return len(y) - sum(bl.size for bl in sm.get_matching_blocks())

    res = {}
    before = after = 0
    for nn, spun_text, orig in corpora.spun_news_examples(shared):
        r = restorer.restore(spun_text)
        b, a = diff(spun_text, orig), diff(r.text, orig)
        before += b
        after += a
        res[nn] = {"tokens_wrong_spun": b, "tokens_wrong_restored": a, "edits": len(r.edits),
                   "spin_score": round(r.spin_score, 4)}
    res["total"] = {"tokens_wrong_spun": before, "tokens_wrong_restored": after,
                    "error_reduction": (before - after) / before if before else float("nan")}
    return res


def eval_tortured(restorer: Restorer, shared: Path, limit: int | None = None) -> dict:
    """Tortured phrases restored to the expected phrase, each restored on its own (out of domain)."""
    pairs = corpora.tortured_phrases(shared)
    if limit is not None:
        pairs = random.Random(0).sample(pairs, min(limit, len(pairs)))
    exact = touched = 0
    for tortured, correct in pairs:
        r = restorer.restore(tortured)
        touched += bool(r.edits)
        exact += r.text.strip().lower() == correct.strip().lower()
    return {"phrases": len(pairs), "restored_exactly": exact, "changed": touched,
            "restored_rate": exact / len(pairs) if pairs else float("nan")}


# --------------------------------------------------------------------------- plots


def plot(results: dict, tallies: dict[str, Tally], out_dir: Path) -> list[str]:
    """Calibration (reliability) and precision/recall-vs-threshold plots as PNG files; returns paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    for name, t in tallies.items():
        a = np.array(t.proposals, dtype=float).reshape(-1, 2)
        if not len(a):
            continue
        idx = np.minimum((a[:, 0] * 10).astype(int), 9)
        xs, ys = [], []
        for b in range(10):
            m = idx == b
            if m.sum() >= 5:
                xs.append(a[m, 0].mean())
                ys.append(a[m, 1].mean())
        ax.plot(xs, ys, "o-", label=name)
    ax.set_xlabel("confidence")
    ax.set_ylabel("fraction correct")
    ax.set_title("Edit calibration")
    ax.legend()
    p = out_dir / "restoration_calibration.png"
    fig.savefig(p, dpi=100, bbox_inches="tight")
    plt.close(fig)
    paths.append(str(p))

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in results["curves"].items():
        th = [c["threshold"] for c in curve]
        ax.plot(th, [c["precision"] for c in curve], "-", label=f"precision ({name})")
        ax.plot(th, [c["recall"] for c in curve], "--", label=f"recall ({name})")
    ax.set_xlabel("confidence threshold")
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision and exact-restoration recall vs threshold")
    ax.legend(fontsize=8)
    p = out_dir / "restoration_threshold.png"
    fig.savefig(p, dpi=100, bbox_inches="tight")
    plt.close(fig)
    paths.append(str(p))
    return paths


# --------------------------------------------------------------------------- entry points


def run(quick: bool, out_dir: Path, shared: Path, restorer: Restorer | None = None) -> dict:
    """Run the benchmark; prints a rich table, writes ``restoration.json`` and two PNG plots into
    ``out_dir`` and returns the results dict. Raises ``FileNotFoundError`` when a corpus is missing."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    base = restorer if restorer is not None else Restorer()
    table = base.table if restorer is not None else default_table()
    docs = load_docs(Path(shared), quick, "test")
    spin_docs(docs, table, seed=1)

    t0 = time.perf_counter()
    startup = Restorer(table=table, model=base.model, threshold=base.threshold, calibration=base.cal)
    tallies = {"known": evaluate(startup, docs)}
    wt = withheld_table(table, seed=2)
    r_w = Restorer(table=wt, model=base.model, threshold=base.threshold, calibration=base.cal)
    tallies["withheld_30pct"] = evaluate(r_w, docs)
    results: dict = {"settings": {k: summarise(v) for k, v in tallies.items()}}
    results["curves"] = {k: threshold_curve(v) for k, v in tallies.items()}
    results["documents"] = {s: sum(d.source == s for d in docs) for s in ("senate", "ose", "gum")}
    results["table"] = {"version": table.version, "entries": len(table), "spun_forms": len(table.reverse),
                        "withheld_entries": len(table) - len(wt)}
    results["restorer"] = base.version
    results["examples"] = eval_examples(startup, Path(shared))
    results["tortured_phrases"] = eval_tortured(startup, Path(shared), limit=1500 if quick else None)
    results["seconds"] = time.perf_counter() - t_start
    results["plots"] = plot(results, tallies, out_dir)
    (out_dir / "restoration.json").write_text(json.dumps(results, indent=2, default=float) + "\n", encoding="utf-8")
    print_results(results)
    print(f"wrote {out_dir / 'restoration.json'}", *results["plots"], sep="\n  ")
    return results


def print_results(results: dict) -> None:
    """Print the main metrics as a rich table."""
    from rich.console import Console
    from rich.table import Table

    tab = Table(title="Restoration benchmark")
    tab.add_column("metric")
    settings = results["settings"]
    for k in settings:
        tab.add_column(k, justify="right")
    keys = ["edit_precision", "span_recall", "exact_restoration", "false_edits_per_1k_words_news",
            "false_edits_per_1k_words_press", "doc_auc", "ece", "words_per_s", "substitutions_per_100_spun_words",
            "edits", "spun_spans"]
    for m in keys:
        tab.add_row(m, *[f"{settings[s][m]:.4g}" if isinstance(settings[s][m], float) else str(settings[s][m])
                         for s in settings])
    c = Console()
    c.print(tab)
    ex = results.get("examples", {}).get("total", {})
    tp = results.get("tortured_phrases", {})
    c.print(f"spun-news examples: tokens wrong {ex.get('tokens_wrong_spun')} -> {ex.get('tokens_wrong_restored')}"
            f" (error reduction {ex.get('error_reduction', float('nan')):.2f})")
    c.print(f"tortured phrases (out of domain): {tp.get('restored_exactly')}/{tp.get('phrases')} restored exactly")


def fit_calibration(shared: Path, quick: bool = False, out: Path | None = None, rho: float | None = None) -> Calibration:
    """Fit the document and edit calibrations on the calibration split and write ``data/calibration.json``
    (or ``out``). Document: Platt scaling of the article log-likelihood ratio per square root of its length. Edit: Platt scaling of
    the logit of the model posterior, over proposals made with the fitted document calibration."""
    table = default_table()
    docs = load_docs(Path(shared), quick, "fit")
    spin_docs(docs, table, seed=7)
    base = Calibration.load()
    raw = Calibration(rho=base.rho if rho is None else rho, lm_weight=base.lm_weight, doc_prior=base.doc_prior)
    r = Restorer(table=table, calibration=raw, threshold=0.0)
    llrs, ys = [], []
    for d in docs:
        for text, y in ((d.clean, 0), (d.spun, 1)):
            res = r.restore(text)
            llrs.append(doc_feature(res.llr, res.n_tokens))
            ys.append(y)
    raw.doc_a, raw.doc_b = fit_platt(np.array(llrs), np.array(ys), l2=1e-2)
    r = Restorer(table=table, model=r.model, calibration=raw, threshold=0.0, collect_features=True)
    xs, ys = [], []
    for d in docs:
        rs = r.restore(d.spun)
        props = [e for e in rs.edits + rs.rejected if e.kind != "spintax"]
        ok, _, _ = _judge(props, d.spans)
        for e, o in zip(props, ok):
            xs.append(rs.features[(e.start, e.end)])
            ys.append(int(o))
        rc = r.restore(d.clean)
        for e in rc.edits + rc.rejected:
            if e.kind != "spintax":
                xs.append(rc.features[(e.start, e.end)])
                ys.append(0)
    X, Y = np.array(xs, dtype=float), np.array(ys)
    raw.edit_a, raw.edit_b = fit_platt(X[:, 0], Y)
    raw.edit_weights = fit_logistic(X, Y)
    raw.extra = {"edit_features": list(EDIT_FEATURES), "edit_examples": int(len(Y)),
                 "edit_positive_rate": float(Y.mean()) if len(Y) else 0.0,
                 "doc_examples": len(llrs)}
    raw.fitted_on = f"senate-held-out-even+ose-even:{len(docs)}docs:table-{table.version}"
    raw.save(out)
    return raw


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m workers.evaluation.restoration [--quick] [--fit] --shared DIR --out DIR``."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--fit", action="store_true", help="refit data/calibration.json first")
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--out", type=Path, default=Path("eval-out"))
    a = ap.parse_args(argv)
    if a.fit:
        cal = fit_calibration(a.shared, quick=a.quick)
        print("calibration:", cal)
    run(a.quick, a.out, a.shared)


if __name__ == "__main__":
    main()
