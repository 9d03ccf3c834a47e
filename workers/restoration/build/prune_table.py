"""Prune the spinner table of substitutes that make it contradict itself or that no restorer can use.

    python -m workers.restoration.build.prune_table [--dry-run] [--ratio 3.0]

Rules (documented in ``data/README.md``, "Pruning"), applied to every ``spinner_table/*.tsv`` in place;
comments, order and format are kept, an entry left without substitutes is removed:

1. **Same word**: a substitute that is the original in another spelling (hyphen, space or case
   differences, British/American spelling: "organisation" / "organization", "high school" /
   "highschool") or the same words contracted ("it is" / "it's", "do not" / "don't") is dropped: clean
   news uses both, restoring it only rewrites correct text (and the press-release corpus, scraped with
   apostrophes lost, undercounts contractions, so their priors would be wrong).
2. **Direction**: a real spinner maps a common word to an odder one. When two entries substitute each
   other (``boost -> increase`` and ``increase -> boost``), only the direction from the more frequent word
   (corpus count of the n-gram model) to the less frequent one is kept.
3. **Frequent substitute**: a substitute ``s`` of original ``o`` (one of ``k`` substitutes) is dropped
   when ``count(s) > RATIO * count(o) / k`` (``RATIO`` = 1) and ``s`` is itself a common news word
   (count >= ``MIN_COMMON``): even in an article spun at every occasion, most occurrences of ``s`` would
   be clean ones, so the entry adds little evidence (``sack -> fire``: a clean "fire" is 7,000 times more
   likely than a spun "sack"; ``will -> would``) and makes every clean occurrence of a frequent word
   suspect. Counts are summed over the inflections the table gives both forms.
4. **Fixed entries** (``FIXES``): substitutes that are ordinary clean-news text ("percent -> %",
   "United Kingdom -> UK", "television -> TV").

Counts come from the shipped n-gram model (``data/ngram.npz``), so the rule is reproducible.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from workers.restoration.table import DEFAULT_TABLE_DIR

RATIO = 1.0
MIN_COMMON = 200
# (original, substitute) pairs removed by hand: spinner output that is ordinary clean-news text
FIXES = {
    ("percent", "%"), ("percent", "pc"), ("percent of", "% of"),
    # abbreviations clean news uses as often as the full form (counts from US press releases miss that)
    ("united kingdom", "uk"), ("television", "tv"),
}
_BRIT = [
    (r"isation", "ization"), (r"ise(d|s)?$", r"ize\1"), (r"ising$", "izing"), (r"our", "or"),
    (r"tre$", "ter"), (r"tres$", "ters"), (r"ogue$", "og"), (r"ence$", "ense"), (r"lled$", "led"),
    (r"lling$", "ling"), (r"mme$", "m"), (r"ae", "e"), (r"oe", "e"), (r"yse$", "yze"),
]


_CONTRACTIONS = [
    (r"\bwon't\b", "will not"), (r"\bcan't\b", "cannot"), (r"n't\b", " not"), (r"'re\b", " are"),
    (r"'m\b", " am"), (r"'ll\b", " will"), (r"'ve\b", " have"), (r"'d\b", " would"), (r"'s\b", " is"),
    (r"\bcan not\b", "cannot"),
]


def spelling_key(s: str) -> str:
    """A key equal for spellings of one word or phrase: lower case, contractions expanded, letters and
    digits only, British forms mapped to American ones."""
    s = s.lower().replace("\u2019", "'")
    for pat, rep in _CONTRACTIONS:
        s = re.sub(pat, rep, s)
    words = []
    for w in re.findall(r"[a-z0-9]+", s):
        for pat, rep in _BRIT:
            w = re.sub(pat, rep, w)
        words.append(w)
    return "".join(words)


def prune(table_dir: Path = DEFAULT_TABLE_DIR, ratio: float = RATIO, dry_run: bool = False) -> dict:
    """Apply the rules to the table files; returns counts of dropped substitutes per rule."""
    from workers.restoration.ngram import default_model
    from workers.restoration.table import Entry, inflections, kind_of, parse_lines
    from workers.restoration.tokens import norms

    model = default_model()
    cache: dict[str, int] = {}

    def count(s: str, pos: str = "X") -> int:
        """Corpus count of a table form summed over the inflections the table gives it."""
        k = (s.lower(), pos)
        if k not in cache:
            forms = {s} | {o for _, o, _ in inflections(Entry(s, ("_",), pos, "word"))}
            cache[k] = sum(model.count(tuple(norms(f))) for f in forms)
        return cache[k]

    files = sorted(Path(table_dir).glob("*.tsv"))
    pairs: set[tuple[str, str]] = set()
    for f in files:
        es, _ = parse_lines(f.read_text(encoding="utf-8").splitlines(), kind_of(f), f.name)
        for e in es:
            for s in e.substitutes:
                pairs.add((e.original.lower(), s.lower()))
    stats = {"same_word": 0, "direction": 0, "frequent_substitute": 0, "fixed": 0, "entries_removed": 0}
    for f in files:
        out = []
        for raw in f.read_text(encoding="utf-8").splitlines():
            cols = raw.split("\t")
            if raw.lstrip().startswith("#") or len(cols) != 3:
                out.append(raw)
                continue
            o, subs, pos = cols
            keep = []
            n_subs = len([x for x in subs.split("|") if x.strip()])
            for s in subs.split("|"):
                ol, sl = o.strip().lower(), s.strip().lower()
                co, cs = count(o, pos.strip()), count(s, pos.strip())
                if (ol, sl) in FIXES:
                    stats["fixed"] += 1
                elif spelling_key(ol) == spelling_key(sl):
                    stats["same_word"] += 1
                elif (sl, ol) in pairs and (co < cs or (co == cs and ol > sl)):
                    stats["direction"] += 1
                elif cs >= MIN_COMMON and cs > ratio * co / n_subs:
                    stats["frequent_substitute"] += 1
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
    ap.add_argument("--ratio", type=float, default=RATIO)
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)
    print(prune(a.table_dir, a.ratio, a.dry_run))


if __name__ == "__main__":
    main()
