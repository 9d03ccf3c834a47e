"""Prune the spinner table of substitutes that make it contradict itself or that no restorer can use.

    python -m workers.restoration.build.prune_table [--dry-run]

Rules (documented in ``data/README.md``, "Pruning"), applied to every ``spinner_table/*.tsv`` in place;
comments, order and format are kept, an entry left without substitutes is removed:

1. **Same word**: a substitute that is the original in another spelling (hyphen, space or case
   differences, British/American spelling: "organisation" / "organization", "high school" /
   "highschool") or the same words contracted ("it is" / "it's", "do not" / "don't") is dropped: clean
   news uses both, restoring it only rewrites correct text (and the press-release corpus, scraped with
   apostrophes lost, undercounts contractions, so their priors would be wrong).
2. **Fixed entries** (``FIXES``): substitutes that are ordinary clean-news text ("percent -> %",
   "United Kingdom -> UK", "television -> TV").

Rules that pruned frequent substitutes (one direction per mutual pair; a substitute more frequent
than its original) were dropped: measured on real spun news they removed the spinner's signature words
(officials -> officers, military -> army, table -> desk), and a restorer that holds them lets context
and article evidence decide. Mutual pairs stay too: group-dictionary spinners map both ways.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workers.restoration.table import DEFAULT_TABLE_DIR
from workers.restoration.tokens import spelling_key

# (original, substitute) pairs removed by hand: spinner output that is ordinary clean-news text
FIXES = {
    ("percent", "%"), ("percent", "pc"), ("percent of", "% of"),
    # abbreviations clean news uses as often as the full form (counts from US press releases miss that)
    ("united kingdom", "uk"), ("television", "tv"),
}
def prune(table_dir: Path = DEFAULT_TABLE_DIR, dry_run: bool = False) -> dict:
    """Apply the rules to the table files; returns counts of dropped substitutes per rule."""
    files = sorted(Path(table_dir).glob("*.tsv"))
    stats = {"same_word": 0, "fixed": 0, "entries_removed": 0}
    for f in files:
        out = []
        for raw in f.read_text(encoding="utf-8").splitlines():
            cols = raw.split("\t")
            if raw.lstrip().startswith("#") or len(cols) != 3:
                out.append(raw)
                continue
            o, subs, pos = cols
            keep = []
            for s in subs.split("|"):
                ol, sl = o.strip().lower(), s.strip().lower()
                if (ol, sl) in FIXES:
                    stats["fixed"] += 1
                elif spelling_key(ol) == spelling_key(sl):
                    stats["same_word"] += 1
                else:
                    keep.append(s)
                    continue
            if keep:
                out.append("\t".join((o, "|".join(keep), pos)))
            else:
                stats["entries_removed"] += 1
        if not dry_run:
            f.write_text("\n".join(out) + "\n", encoding="utf-8")
    return stats


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table-dir", type=Path, default=DEFAULT_TABLE_DIR)
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)
    print(prune(a.table_dir, a.dry_run))


if __name__ == "__main__":
    main()
