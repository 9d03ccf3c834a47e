"""Build the small evaluation set that ships with the project (``workers/evaluation/data/``).

``unspun eval`` runs on it when the shared corpora are absent. Both parts come from the reported split
only, so nothing in it is ever tuned on:

- ``senate_report.jsonl``: the first ``SENATE_DOCS`` held-out US Senate press releases at odd positions
  (never in the n-gram model) of 200 to 700 words, ``{"id", "text"}`` per line (US government works,
  public domain);
- ``pps_report.json``: the first ``PPS_PAIRS`` pairs of the PPS report half (CC BY 4.0, attribution in
  ``SOURCE.md``).

Run ``python -m workers.evaluation.bundle [--shared DIR]`` to regenerate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workers.evaluation import corpora, pps

SENATE_DOCS = 30
PPS_PAIRS = 300


def build(shared: Path, out_dir: Path = corpora.BUNDLED) -> None:
    """Write the two files into ``out_dir``; raises ``FileNotFoundError`` when a corpus is missing."""
    docs = []
    for k, (name, text) in enumerate(corpora.senate_held_out(shared, limit=4 * SENATE_DOCS)):
        if k % 2 == 1 and 200 <= len(text.split()) <= 700 and len(docs) < SENATE_DOCS:
            docs.append({"id": name, "text": text})
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "senate_report.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    pairs = pps.split(corpora.tortured_phrases(shared))["report"][:PPS_PAIRS]
    data = {"source": "Problematic Paper Screener (Cabanac, Labbé & Magazinov), via the tortured-phrases list; CC BY 4.0",
            "half": "report", "pairs": [{"tortured": t, "correct": c} for t, c in pairs]}
    (out_dir / "pps_report.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    build(ap.parse_args().shared)
