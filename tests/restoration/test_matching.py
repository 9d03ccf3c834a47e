"""The compiled form scan against the evidence rule written out with Python dicts, on many forms and articles."""

import random
from types import SimpleNamespace

import numpy as np

from workers.restoration.matching import FormIndex

WORDS = [f"w{k}" for k in range(12)]  # few words, so forms share tokens and prefixes


def _family(rng: random.Random, n_forms: int) -> SimpleNamespace:
    forms = {tuple(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) for _ in range(n_forms)}
    forms = sorted(forms)
    rng.shuffle(forms)
    spun = set(forms[: len(forms) * 2 // 3])
    originals = set(forms[len(forms) // 2 :])  # some forms are both
    return SimpleNamespace(reverse=dict.fromkeys(spun, []), forward=dict.fromkeys(originals, []))


def _expected(families, tokens, locked):
    """The evidence rule: per family, left to right, the longest form at a token not yet covered counts
    (a spun form as a hit, an original as unchanged); every spun form anywhere is a candidate span unless
    it covers a locked token."""
    spans, hits, unchanged = [], [], []
    for f, fam in enumerate(families):
        covered_to, n_unchanged = 0, 0
        lengths = sorted({len(k) for k in [*fam.reverse, *fam.forward]}, reverse=True)
        for i in range(len(tokens)):
            free = i >= covered_to
            for L in lengths:
                key = tuple(tokens[i : i + L])
                if len(key) < L:
                    continue
                if key in fam.reverse:
                    own = free
                    if free:
                        hits.append((f, key))
                        covered_to, free = i + L, False
                    if not any(locked[i : i + L]):
                        spans.append((i, i + L, f, key, own))
                elif free and key in fam.forward:
                    n_unchanged += 1
                    covered_to, free = i + L, False
        unchanged.append(n_unchanged)
    return sorted(spans), hits, unchanged


def test_scan_finds_what_the_evidence_rule_finds():
    rng = random.Random(7)
    families = [_family(rng, 400), _family(rng, 60), _family(rng, 1)]
    index = FormIndex(families)
    for _ in range(200):
        tokens = [rng.choice(WORDS + ["other"]) for _ in range(rng.randint(0, 40))]
        locked = [rng.random() < 0.05 for _ in tokens]
        s_i, s_j, s_g, s_own, hits, unchanged = index.scan(index.token_ids(tokens), locked)
        spans = sorted((i, j, int(index.family[g]), index.keys[g], bool(own))
                       for i, j, g, own in zip(s_i.tolist(), s_j.tolist(), s_g.tolist(), s_own.tolist()))
        want_spans, want_hits, want_unchanged = _expected(families, tokens, locked)
        assert spans == want_spans
        assert [(int(index.family[g]), index.keys[g]) for g in hits.tolist()] == want_hits
        assert unchanged.tolist() == want_unchanged


def test_every_form_is_found_by_itself():
    rng = random.Random(3)
    families = [_family(rng, 3000), _family(rng, 3000)]  # as many forms as the words allow: a crowded table
    index = FormIndex(families)
    for g, key in enumerate(index.keys):
        f = int(index.family[g])
        s_i, s_j, s_g, *_ = index.scan(index.token_ids(list(key)), [False] * len(key))
        found = {int(x) for x, i, j in zip(s_g, s_i, s_j) if (i, j) == (0, len(key))}
        if key in families[f].reverse:
            assert g in found
        else:
            assert not any(index.keys[x] == key and int(index.family[x]) == f for x in found)


def test_empty_index():
    index = FormIndex([SimpleNamespace(reverse={}, forward={})])
    s_i, *_, hits, unchanged = index.scan(index.token_ids(["w1", "w2"]), np.zeros(2, dtype=bool))
    assert len(s_i) == 0 and len(hits) == 0 and unchanged.tolist() == [0]
