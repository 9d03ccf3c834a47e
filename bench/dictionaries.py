"""Import cost of a large spinner dictionary: compile once, then load from the cache.

Builds a 15,000-group synonym-group file (``head|syn|syn``) at run time from the LibreOffice English
thesaurus in Debian's ``mythes-en-us`` (``/usr/share/mythes/th_en_US_v2.dat``, MPL-2.0; nothing of it
is kept): the 15,000 single-word heads most frequent in the n-gram model, each with its synonyms of
every meaning (``workers.evaluation.groups.mythes_groups``, the evaluation's thesaurus spinner). Then
measures in fresh child processes, one core:

- compile: parse + inflect + index + write the cache (``compile_dictionary`` on an empty cache dir);
- load: ``compile_dictionary`` again, from the cache;
- merged: the shipped table plus the dictionary, as ``UNSPUN_EXTRA_TABLES`` loads it, from the caches;
- baseline: the shipped table loaded from its cache in the same run (``table.load_table``);
- wall and CPU seconds (wall time moves with other load on the machine; CPU time much less);
- the restorer alone on generated articles (``bench/articles.py``) with each table: words/s of CPU
  time and edits on the clean half;
- resident memory (RSS) before and after each load, and the number of forms (reverse-index keys).

Usage: ``python bench/dictionaries.py [--groups 15000] [--thesaurus PATH]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from workers.evaluation.groups import MYTHES, mythes_groups, write_groups
from workers.restoration.ngram import default_model

REPO = Path(__file__).resolve().parents[1]


_CHILD = r"""
import gc, json, sys, time
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) // 1024 for l in f if l.startswith("VmRSS"))
from workers.restoration import table
from workers.restoration.dictionaries import compile_dictionary
what, path, cache = sys.argv[1:4]
before = rss()
t0, c0 = time.perf_counter(), time.process_time()
if what == "dictionary":
    t = compile_dictionary(path, cache)
else:
    t = table.load_table(extra=[path] if what == "merged" else [], cache_dir=cache)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
out = {"s": dt, "cpu": cpu, "rss_before": before, "rss_after": rss(), "forms": len(t.reverse), "entries": len(t.entries)}
if what != "dictionary":
    sys.path.insert(0, "bench")
    from articles import generate
    from workers.restoration.restorer import Restorer
    docs = generate(n=32, words=600)
    gc.freeze()  # as table.default_table does in the worker
    r = Restorer(table=t)
    r.restore(docs[0]["text"])
    c0 = time.process_time()
    clean_edits = sum(len(r.restore(d["title"] + "\n\n" + d["text"]).edits) * (not d["meta"]["spun"]) for d in docs)
    out["words_s"] = sum(d["meta"]["words"] for d in docs) / (time.process_time() - c0)
    out["clean_edits_per_1k"] = 1000 * clean_edits / sum(d["meta"]["words"] for d in docs if not d["meta"]["spun"])
    out["rss_restorer"] = rss()
print(json.dumps(out))
"""


def _run(what: str, path: str, cache: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, what, path, cache], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groups", type=int, default=15_000)
    ap.add_argument("--thesaurus", type=Path, default=MYTHES)
    args = ap.parse_args()
    if not args.thesaurus.is_file():
        sys.exit(f"{args.thesaurus} not found: install Debian's mythes-en-us (apt-get install -y mythes-en-us)")
    with tempfile.TemporaryDirectory() as tmp:
        groups = mythes_groups(default_model(), args.groups, args.thesaurus)
        path = str(write_groups(groups, Path(tmp) / "groups.txt"))
        cache = str(Path(tmp) / "cache")
        rows = [
            ("shipped table, compile", _run("shipped", path, cache)),
            ("shipped table, from cache (base)", _run("shipped", path, cache)),
            ("dictionary, compile", _run("dictionary", path, cache)),
            ("dictionary, from cache", _run("dictionary", path, cache)),
            ("shipped + dictionary merged, cache", _run("merged", path, cache)),
        ]
    r = dict(rows)
    print(f"dictionary: {len(groups):,} groups from {args.thesaurus.name}, {r['dictionary, compile']['entries']:,} entries")
    print(f"{'':36}{'wall s':>8}{'CPU s':>8}{'RSS before MB':>15}{'RSS after MB':>14}{'forms':>9}")
    for label, x in rows:
        print(f"{label:36}{x['s']:8.2f}{x['cpu']:8.2f}{x['rss_before']:15}{x['rss_after']:14}{x['forms']:9,}")
    base, cold, warm = r["shipped table, from cache (base)"], r["dictionary, compile"], r["dictionary, from cache"]
    grow = lambda x: x["rss_after"] - x["rss_before"]  # noqa: E731
    merged = r["shipped + dictionary merged, cache"]
    print(
        f"restorer alone, one core, 32 generated 600-word articles (half spun by the shipped-table emulation): "
        f"shipped {base['words_s']:,.0f} words/s, with the dictionary {merged['words_s']:,.0f} words/s "
        f"({merged['words_s'] / base['words_s']:.2f}x); RSS with restorer {base['rss_restorer']} / {merged['rss_restorer']} MB; "
        f"edits per 1,000 words of the clean half {base['clean_edits_per_1k']:.2f} / {merged['clean_edits_per_1k']:.2f}"
    )
    print(
        f"dictionary from cache vs shipped table from cache: {warm['cpu'] / base['cpu']:.1f}x CPU time, "
        f"{grow(warm) / max(1, grow(base)):.1f}x memory; compile / cache load: {cold['cpu'] / warm['cpu']:.0f}x CPU time"
    )


if __name__ == "__main__":
    main()
