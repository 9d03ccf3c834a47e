"""Fit the restorer's calibration (``data/calibration.json``) on the tuning split only.

    python -m workers.evaluation.calibrate [--quick] [--shared DIR]

Tuning data: US Senate press releases at even positions of the held-out set and OneStopEnglish texts at
even positions (``restoration.load_docs(..., "tune")``); the benchmark reports on the other positions and
never on these. Each document is used whole and as a short snippet (its first one to three sentences), so
the document model sees short texts too, and spun by one of four settings, so that the confidence learns
what a restorer in the wild meets, where it never holds its spinner's whole dictionary:

- the news table's emulation, restored with the shipped families (its dictionary known);
- the same, restored with half of the news table's originals withheld (a spun form whose original is
  unknown is restored to a wrong candidate, or left);
- the WordNet-synset spinner, restored with the shipped families (the WordNet family covers the
  frequent words only);
- the thesaurus-group spinner (mythes-en-us), restored without the WordNet family (almost nothing known:
  what the restorer proposes there is mostly wrong).

Both models are logistic regressions: spun vs clean over ``calibration.DOC_FEATURES`` for documents (the
known and partial settings only, ``DOC_SETTINGS``), right vs wrong proposals over ``restorer.EDIT_FEATURES``
for edits (all settings). A setting whose dictionary source (Debian's
``wordnet-base``, ``mythes-en-us``) is not installed is skipped.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np

from workers.evaluation.restoration import load_docs, withheld_table
from workers.evaluation.scoring import Doc, judge
from workers.evaluation.spinners import Spinner, table_spinner, thesaurus_spinner, wordnet_spinner, words_of
from workers.restoration.calibration import DOC_FEATURES, Calibration, doc_features, fit_logistic, fit_platt
from workers.restoration.families import Family, shipped_families
from workers.restoration.restorer import EDIT_FEATURES, Restorer

WITHHELD = 0.5  # share of the news table's originals unknown to the restorer in the "partial" setting
# The document model learns what a family's evidence looks like in text that family spun: a spinner whose
# dictionary the restorer barely holds leaves almost none, and would teach it to call clean text spun.
DOC_SETTINGS = ("known", "partial")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def _snippet(text: str, k: int) -> str:
    return " ".join(_SENTENCE.split(text.strip())[:k])


def _settings(docs: list[Doc], seed: int = 3) -> list[tuple[str, Spinner, list[Family]]]:
    """(name, spinner, families the restorer holds) of each tuning setting that can run here."""
    shipped = shipped_families()
    news = shipped[0]
    no_wordnet = [f for f in shipped if f.name != "wordnet"]
    partial = [Family("news", withheld_table(news.table, WITHHELD, seed), news.prior), *shipped[1:]]
    out = [("known", table_spinner(news.table), shipped), ("partial", table_spinner(news.table), partial)]
    words = words_of(d.clean for d in docs)
    for name, make, fams in (("wordnet", wordnet_spinner, shipped), ("thesaurus", thesaurus_spinner, no_wordnet)):
        try:
            out.append((name, make(words), fams))
        except FileNotFoundError:
            pass
    return out


def tuning_texts(shared: Path, quick: bool, seed: int = 7) -> list[tuple[Doc, list[Family], str]]:
    """Spun tuning documents and snippets (``Doc`` with ``spun``/``spans`` filled), each with the families
    its restorer holds and the setting's name; the settings take turns over the documents."""
    docs = load_docs(Path(shared), quick, "tune")
    settings = _settings(docs)
    out: list[tuple[Doc, list[Family], str]] = []
    for k, d in enumerate(docs):
        rng = random.Random(seed * 1_000_003 + k)
        name, spinner, fams = settings[k % len(settings)]
        for clean in (d.clean, _snippet(d.clean, rng.randint(1, 3))):
            if len(clean.split()) >= 8:
                spun, spans = spinner.spin(clean, rng)
                out.append((Doc(d.id, d.source, clean, spun, spans), fams, name))
    return out


def fit(shared: Path, quick: bool = False, out: Path | None = None) -> Calibration:
    """Fit both models on the tuning split and write the calibration file (``out``, default the shipped
    ``data/calibration.json``); returns it. Raises ``FileNotFoundError`` when a corpus is missing."""
    texts = tuning_texts(shared, quick)
    base = Calibration.load()
    raw = Calibration(rho=base.rho, lm_weight=base.lm_weight, doc_prior=base.doc_prior)
    restorers: dict[int, Restorer] = {}
    model = None

    def restorer(fams: list[Family]) -> Restorer:
        nonlocal model
        r = restorers.get(id(fams))
        if r is None:
            r = restorers[id(fams)] = Restorer(families=fams, model=model, calibration=raw, threshold=0.0,
                                               collect_features=True)
            model = r.model
        return r

    xs, ys = [], []
    for d, fams, name in texts:
        if name not in DOC_SETTINGS:
            continue
        for text, y in ((d.clean, 0), (d.spun, 1)):
            res = restorer(fams).restore(text)
            xs.append(doc_features(res.llr, res.n_tokens, res.top))
            ys.append(y)
    X, Y = np.array(xs, dtype=float), np.array(ys)
    raw.doc_weights = fit_logistic(X, Y)
    raw.doc_a, raw.doc_b = fit_platt(X[:, 0], Y, l2=1e-2)
    xs, ys = [], []
    for d, fams, _ in texts:  # the same restorers, now with the fitted document model
        rs = restorer(fams).restore(d.spun)
        props = [e for e in rs.edits + rs.rejected if e.kind != "spintax"]
        for e, o in zip(props, judge(props, d.spans).ok):
            xs.append(rs.features[(e.start, e.end)])
            ys.append(int(o))
        rc = restorer(fams).restore(d.clean)
        for e in rc.edits + rc.rejected:
            if e.kind != "spintax":
                xs.append(rc.features[(e.start, e.end)])
                ys.append(0)
    X, Y = np.array(xs, dtype=float), np.array(ys)
    raw.edit_a, raw.edit_b = fit_platt(X[:, 0], Y)
    raw.edit_weights = fit_logistic(X, Y)
    raw.extra = {"edit_features": list(EDIT_FEATURES), "doc_features": list(DOC_FEATURES),
                 "edit_examples": int(len(Y)), "edit_positive_rate": float(Y.mean()) if len(Y) else 0.0,
                 "doc_examples": 2 * sum(n in DOC_SETTINGS for _, _, n in texts),
                 "withheld_in_partial_setting": WITHHELD}
    raw.fitted_on = f"tuning:senate-even+ose-even:{len(texts)}texts:{len(restorers)}restorers"
    raw.save(out)
    return raw


def main(argv: list[str] | None = None) -> None:
    """Command line (see module docstring)."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    print(fit(a.shared, a.quick, a.out))


if __name__ == "__main__":
    main()
