"""The joint decision (``decision.Decider``) against a plain reading of its definition: every window scored
on its own with ``NgramModel.logprob`` and every combination of a group enumerated in Python."""

import math
import random

import pytest

from workers.restoration.decision import MAX_COMBOS, MAX_GROUP, MAX_OPTIONS, MIN_POSTERIOR, Decider, Option, Span

SENTENCE = ("the corporate mentioned on tuesday that its chief govt officer got here to the assembly in "
            "washington after 1000's of employees had been laid off by the agency final yr").split()
WORDS = ("company said came meeting executive thousands last year firm stated arrived the of in new big "
         "government chief officers workers staff").split()
LMW = math.log(10)


def _options(model, rng, n_opts):
    out = []
    for _ in range(n_opts):
        toks = tuple(rng.sample(WORDS, rng.choice((1, 1, 1, 2))))
        out.append(Option(toks, " ".join(toks), "word", rng.uniform(-6, 1), ids=tuple(model.ids(toks, True))))
    return out


def _spans(model, rng, n_tokens, density=0.45):
    spans = []
    for i in range(n_tokens):
        lengths = (1, 2) if density >= 1 else (rng.choice((1, 1, 1, 2)),) if rng.random() < density else ()
        for L in lengths:  # dense: overlapping spans chain into groups too large to enumerate
            j = min(n_tokens, i + L)
            if not spans or (spans[-1].i, spans[-1].j) != (i, j):
                spans.append(Span(i, j, tuple(SENTENCE[i:j]), _options(model, rng, rng.randint(1, 4))))
    return spans


def _score(model, n, a, b, seq):
    left, right = n[max(0, a - 2) : a], n[b : b + 2]
    return LMW * model.logprob([*left, *seq, *right], len(left))


def _combos(g, limit):
    out = [()]
    for s in g:
        nxt = []
        for c in out:
            end = max([g[k].j for k, ci in enumerate(c) if ci] or [-1])
            nxt.append(c + (0,))
            if s.i >= end:
                nxt += [c + (k,) for k in range(1, min(len(s.options), limit) + 1)]
        out = nxt
    return out


def _outcome(n, g, c):
    seq, pos = [], g[0].i
    for s, ci in zip(g, c):
        if ci:
            seq += n[pos : s.i] + list(s.options[ci - 1].toks)
            pos = s.j
    return tuple(seq + n[pos : max(s.j for s in g)])


def reference(model, n, spans):
    """(start, end, option surface, posterior, posterior of keeping) by the definition in decision.py."""
    pruned, single = [], {}
    for sp in spans:
        keep = _score(model, n, sp.i, sp.j, n[sp.i : sp.j])
        vals = [_score(model, n, sp.i, sp.j, o.toks) + o.bonus for o in sp.options]
        mx = max([keep, *vals])
        z = math.exp(keep - mx) + sum(math.exp(v - mx) for v in vals)
        ranked = sorted(range(len(vals)), key=lambda t: -math.exp(vals[t] - mx) / z)[:MAX_OPTIONS]
        ranked = [t for t in ranked if math.exp(vals[t] - mx) / z >= MIN_POSTERIOR]
        if ranked:
            pruned.append(Span(sp.i, sp.j, sp.key, [sp.options[t] for t in ranked]))
            single[(sp.i, sp.j)] = [keep] + [vals[t] for t in ranked]
    groups, end = [], -10
    for sp in pruned:
        if groups and (sp.i < end or (sp.i <= end + 2 and len(groups[-1]) < MAX_GROUP)):
            groups[-1].append(sp)
            end = max(end, sp.j)
        else:
            groups.append([sp])
            end = sp.j
    jobs = []
    for g in groups:
        if len(g) == 1:
            jobs.append((g, [(k,) for k in range(len(single[(g[0].i, g[0].j)]))], single[(g[0].i, g[0].j)]))
            continue
        combos = _combos(g, MAX_OPTIONS)
        if len(combos) > MAX_COMBOS:
            combos = _combos(g, 1)
        parts = [(g, combos)] if len(combos) <= MAX_COMBOS else [([s], [(0,), (1,)]) for s in g]
        for gg, cc in parts:
            a, b = gg[0].i, max(s.j for s in gg)
            vals = [_score(model, n, a, b, _outcome(n, gg, c))
                    + sum(s.options[ci - 1].bonus for s, ci in zip(gg, c) if ci) for c in cc]
            jobs.append((gg, cc, vals))
    out = []
    for g, combos, vals in jobs:
        mx = max(vals)
        ws = [math.exp(v - mx) for v in vals]
        z = sum(ws)
        merge = not (len(g) == 1 and len(combos) <= 2)
        seqs = [_outcome(n, g, c) if merge else k for k, c in enumerate(combos)]
        tot = {}
        for q, w in zip(seqs, ws):
            tot[q] = tot.get(q, 0.0) + w
        bq = max(tot, key=tot.__getitem__)
        best = combos[max((k for k, q in enumerate(seqs) if q == bq), key=lambda k: (
            -sum(1 for ci in combos[k] if ci), sum(g[s].j - g[s].i for s, ci in enumerate(combos[k]) if ci), vals[k]))]
        for s, ci in enumerate(best):
            if ci:
                p = sum(w for w, c, q in zip(ws, combos, seqs) if c[s] == ci or q == bq) / z
                pk = min(1 - p, sum(w for w, c in zip(ws, combos) if c[s] == 0) / z)
                out.append((g[s].i, g[s].j, g[s].options[ci - 1].surface, p, pk))
    out.sort(key=lambda t: t[0])
    res, last = [], -1
    for t in out:
        if t[0] >= last:
            res.append(t)
            last = t[1]
    return res


@pytest.mark.parametrize("seed,density", [(k, 0.45) for k in range(10)] + [(k, 1.0) for k in range(3)])
def test_decision_matches_its_definition(model, seed, density):
    rng = random.Random(seed)
    n = SENTENCE[: rng.randint(6, len(SENTENCE))]
    spans = _spans(model, rng, len(n), density)
    got = Decider(model, LMW).decide(model.ids(n, True), spans)
    want = reference(model, n, spans)
    assert [(sp.i, sp.j, o.surface) for sp, o, _, _ in got] == [t[:3] for t in want]
    for (_, _, p, pk), (*_, wp, wpk) in zip(got, want):
        assert p == pytest.approx(wp, abs=1e-9) and pk == pytest.approx(wpk, abs=1e-9)


def test_combinations_giving_the_same_text_are_one_outcome(model):
    # "college district" -> "school district" as a phrase, or its word "college" -> "school", read the
    # same: one outcome carrying the mass of both, and the edit covering most tokens is the one taken
    n = "the college district said on monday".split()

    def opt(toks, bonus):
        return Option(toks, " ".join(toks), "word", bonus, ids=tuple(model.ids(toks, True)))

    spans = [Span(1, 2, ("college",), [opt(("school",), -0.5)]),
             Span(1, 3, ("college", "district"), [opt(("school", "district"), -0.5)])]
    got = Decider(model, LMW).decide(model.ids(n, True), spans)
    want = reference(model, n, spans)
    assert [(sp.i, sp.j, o.surface) for sp, o, _, _ in got] == [(1, 3, "school district")] == [t[:3] for t in want]
    alone = Decider(model, LMW).decide(model.ids(n, True), spans[1:])
    assert got[0][2] == pytest.approx(want[0][3], abs=1e-9) and got[0][2] > alone[0][2]


def test_unknown_words_stay_distinct(model):
    ids = model.ids(["zzqxv", "qqzxw", "said"], distinct_unknown=True)
    assert ids[0] != ids[1] and min(ids[:2]) >= model.vocab_size and ids[2] < model.vocab_size
    assert model.ids(["zzqxv", "qqzxw"]) == [0, 0]


def test_many_overlapping_spans_are_decided_like_the_definition(model):
    # dozens of spans covering one token (long forms of a learned family can stack up like this): the
    # combinations are enumerated from valid prefixes only, so this ends at once and still matches
    rng = random.Random(11)
    n = SENTENCE[:24]
    spans = sorted({(i, i + L) for L in range(1, 8) for i in range(10 - L + 1, 11)})
    spans = [Span(i, j, tuple(n[i:j]), _options(model, rng, rng.randint(1, 3))) for i, j in spans]
    got = Decider(model, LMW).decide(model.ids(n, True), spans)
    want = reference(model, n, spans)
    assert len(spans) > 25
    assert [(sp.i, sp.j, o.surface) for sp, o, _, _ in got] == [t[:3] for t in want]
    for (_, _, p, pk), (*_, wp, wpk) in zip(got, want):
        assert p == pytest.approx(wp, abs=1e-9) and pk == pytest.approx(wpk, abs=1e-9)
