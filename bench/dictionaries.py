"""Import cost of a large spinner dictionary: compile once, then load from the cache.

Builds a 15,000-group synonym-group file (``head|syn|syn``) at run time from the LibreOffice English
thesaurus in Debian's ``mythes-en-us`` (``/usr/share/mythes/th_en_US_v2.dat``, MPL-2.0; nothing of it
is kept), then measures in fresh child processes, one core:

- compile: parse + inflect + index + write the cache (``compile_dictionary`` on an empty cache dir);
- load: ``compile_dictionary`` again, from the cache;
- baseline: the shipped table loaded from its cache in the same run (``table.load_table``);
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

THESAURUS = Path("/usr/share/mythes/th_en_US_v2.dat")
REPO = Path(__file__).resolve().parents[1]


def thesaurus_groups(path: Path, n: int) -> list[str]:
    """``n`` group lines from a MyThes thesaurus: each single-word lower-case head word with the
    plain synonyms of its first sense (no "(generic term)" and the like), at most 4, evenly spread
    over the alphabet."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[1:]
    groups: list[str] = []
    i = 0
    while i < len(lines):
        head, _, count = lines[i].partition("|")
        senses = lines[i + 1 : i + 1 + int(count or 0)]
        i += 1 + len(senses)
        if not (head.isalpha() and head.islower()) or not senses:
            continue
        syns = [s for s in senses[0].split("|")[1:] if "(" not in s and s.lower() != head]
        if syns:
            groups.append("|".join([head, *syns[:4]]))
    step = max(1, len(groups) // n)
    return groups[::step][:n]


_CHILD = r"""
import json, resource, sys, time
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) // 1024 for l in f if l.startswith("VmRSS"))
from workers.restoration import table
from workers.restoration.dictionaries import compile_dictionary
what, path, cache = sys.argv[1:4]
before = rss()
t0 = time.perf_counter()
t = compile_dictionary(path, cache) if what == "dict" else table.load_table(cache_dir=cache)
dt = time.perf_counter() - t0
print(json.dumps({"s": dt, "rss_before": before, "rss_after": rss(), "forms": len(t.reverse), "entries": len(t.entries)}))
"""


def _run(what: str, path: str, cache: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, what, path, cache], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groups", type=int, default=15_000)
    ap.add_argument("--thesaurus", type=Path, default=THESAURUS)
    args = ap.parse_args()
    if not args.thesaurus.is_file():
        sys.exit(f"{args.thesaurus} not found: install Debian's mythes-en-us (apt-get install -y mythes-en-us)")
    with tempfile.TemporaryDirectory() as tmp:
        groups = thesaurus_groups(args.thesaurus, args.groups)
        path = Path(tmp) / "groups.txt"
        path.write_text("\n".join(groups) + "\n", encoding="utf-8")
        cache = str(Path(tmp) / "cache")
        base_cold = _run("shipped", "", cache)
        base = _run("shipped", "", cache)
        cold = _run("dict", str(path), cache)
        warm = _run("dict", str(path), cache)
    size = path.stat().st_size if path.exists() else 0
    print(f"dictionary: {len(groups):,} groups from {args.thesaurus.name}, {cold['entries']:,} entries")
    print(f"{'':34}{'time s':>8}{'RSS before MB':>15}{'RSS after MB':>14}{'forms':>9}")
    for label, r in (
        ("shipped table, compile", base_cold),
        ("shipped table, from cache (base)", base),
        ("dictionary, compile", cold),
        ("dictionary, from cache", warm),
    ):
        print(f"{label:34}{r['s']:8.2f}{r['rss_before']:15}{r['rss_after']:14}{r['forms']:9,}")
    print(f"dictionary from cache / shipped table from cache: {warm['s'] / base['s']:.1f}x time, "
          f"{(warm['rss_after'] - warm['rss_before']) / max(1, base['rss_after'] - base['rss_before']):.1f}x memory; "
          f"compile / cache load: {cold['s'] / warm['s']:.0f}x")
    del size


if __name__ == "__main__":
    main()
