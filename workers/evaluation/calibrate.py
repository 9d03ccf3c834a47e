"""Fit the restorer's calibration (``data/calibration.json``) on the tuning split only.

    python -m workers.evaluation.calibrate [--quick] [--shared DIR]

Tuning data: US Senate press releases at even positions of the held-out set and OneStopEnglish texts at
even positions (``restoration.load_docs(..., "fit")``); the benchmark reports on the other positions and
never on these. Each document is spun by the news table's emulation at a rate drawn from ``RATES``, whole
and as short snippets (its first one to three sentences), so the document model sees short texts too.

- Document model: logistic regression of spun vs clean over ``calibration.DOC_FEATURES``.
- Edit model: logistic regression of right vs wrong proposals over ``restorer.EDIT_FEATURES``. Half of
  the spun documents are restored with only half of the table's originals (the rest withheld), because
  a restorer in the wild never holds its spinner's whole dictionary: a spun form whose true original is
  unknown is then restored to a wrong candidate, and the confidence must learn what that looks like.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np

from workers.evaluation.restoration import Doc, _judge, load_docs
from workers.restoration.calibration import DOC_FEATURES, Calibration, doc_features, fit_logistic, fit_platt
from workers.restoration.emulate import spin
from workers.restoration.families import Family, news_family
from workers.restoration.restorer import EDIT_FEATURES, Restorer

RATES = (0.2, 0.9)  # per-document share of table originals the spinner rewrites
WITHHELD = 0.5  # share of originals unknown to the restorer for half of the documents
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def _snippet(text: str, k: int) -> str:
    return " ".join(_SENTENCE.split(text.strip())[:k])


def tuning_texts(shared: Path, quick: bool, seed: int = 7) -> list[Doc]:
    """Spun tuning documents and snippets (``Doc`` with ``spun``/``spans`` filled), news table emulation."""
    table = news_family().table
    out: list[Doc] = []
    for k, d in enumerate(load_docs(Path(shared), quick, "fit")):
        rng = random.Random(seed * 1_000_003 + k)
        for clean in (d.clean, _snippet(d.clean, rng.randint(1, 3))):
            if len(clean.split()) < 8:
                continue
            spun, spans = spin(clean, rate=rng.uniform(*RATES), rng=rng, table=table)
            out.append(Doc(d.id, d.source, clean, spun, spans))
    return out


def fit(shared: Path, quick: bool = False, out: Path | None = None) -> Calibration:
    """Fit both models on the tuning split and write the calibration file (``out``, default the shipped
    ``data/calibration.json``); returns it. Raises ``FileNotFoundError`` when a corpus is missing."""
    docs = tuning_texts(shared, quick)
    fam = news_family()
    origs = sorted({e.original.lower() for e in fam.table.entries})
    half = Family("news", fam.table.without(random.Random(3).sample(origs, int(WITHHELD * len(origs)))))
    base = Calibration.load()
    raw = Calibration(rho=base.rho, lm_weight=base.lm_weight, doc_prior=base.doc_prior)
    r = Restorer(families=[fam], calibration=raw, threshold=0.0)
    xs, ys = [], []
    for d in docs:
        for text, y in ((d.clean, 0), (d.spun, 1)):
            res = r.restore(text)
            xs.append(doc_features(res.llr, res.n_tokens, res.top))
            ys.append(y)
    X, Y = np.array(xs, dtype=float), np.array(ys)
    raw.doc_weights = fit_logistic(X, Y)
    raw.doc_a, raw.doc_b = fit_platt(X[:, 0], Y, l2=1e-2)
    full = Restorer(families=[fam], model=r.model, calibration=raw, threshold=0.0, collect_features=True)
    part = Restorer(families=[half], model=r.model, calibration=raw, threshold=0.0, collect_features=True)
    xs, ys = [], []
    for k, d in enumerate(docs):
        rr = part if k % 2 else full
        rs = rr.restore(d.spun)
        props = [e for e in rs.edits + rs.rejected if e.kind != "spintax"]
        ok, _, _ = _judge(props, d.spans)
        for e, o in zip(props, ok):
            xs.append(rs.features[(e.start, e.end)])
            ys.append(int(o))
        rc = rr.restore(d.clean)
        for e in rc.edits + rc.rejected:
            if e.kind != "spintax":
                xs.append(rc.features[(e.start, e.end)])
                ys.append(0)
    X, Y = np.array(xs, dtype=float), np.array(ys)
    raw.edit_a, raw.edit_b = fit_platt(X[:, 0], Y)
    raw.edit_weights = fit_logistic(X, Y)
    raw.extra = {"edit_features": list(EDIT_FEATURES), "doc_features": list(DOC_FEATURES),
                 "edit_examples": int(len(Y)), "edit_positive_rate": float(Y.mean()) if len(Y) else 0.0,
                 "doc_examples": len(docs) * 2, "withheld_for_half": WITHHELD}
    raw.fitted_on = f"tuning:senate-even+ose-even:{len(docs)}texts:table-{fam.table.version}"
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
