"""The restorer: spun article in, likely original wording and the edits that produce it out.

Steps for one text (see ``Restorer.restore``):

1. Leftover spintax groups ("{that a}") become edits of kind ``spintax``.
2. Every token span whose normalised tokens are a spun form of the spinner table is a candidate span;
   its options are the table originals, inflected like the spun form (``table.py``).
3. Article-level evidence: the naive-Bayes log-likelihood ratio of the article's table forms
   (``priors.py``) gives ``spin_score``, the calibrated probability the article was spun.
4. Each option gets a prior log-odds ``log(pi * rho * w) - log(1 - pi * rho * m)`` (``rho``: the article's
   estimated substitution rate, posterior mean over ``priors.RHO_GRID``; ``pi``: spin score
   without the span's own evidence) plus the n-gram log-probability gain of the window
   (2 tokens left, the variant, 2 tokens right) over keeping the span (``ngram.py``).
5. Interacting spans (overlapping or within 2 tokens) are decided jointly: all combinations of their
   plausible options are scored over one window and the best is taken; an edit's posterior is its
   marginal over the combinations, calibrated to a confidence (``calibration.py``).
6. Edits with confidence >= ``threshold`` are applied; the restored text copies the spun span's
   capitalisation (``casing.py``). Name parts are restored only inside a capitalised name whose spun
   form is unknown to the corpus; common words used as capitalised names are penalised.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from typing import Any, NamedTuple, Sequence

from workers.restoration.calibration import Calibration, sigmoid
from workers.restoration.casing import SENTENCE_END, case_pattern, copy_case, is_capitalised
from workers.restoration.edits import Edit, apply_edits
from workers.restoration.priors import FormInfo, article_evidence, form_info, mean_llr, unchanged_llr
from workers.restoration.spintax import find_spintax
from workers.restoration.table import SpinnerTable, default_table
from workers.restoration.tokens import Token, tokenize

log = logging.getLogger(__name__)

LN10 = math.log(10.0)
RESTORER_VERSION = "1"
NAME_PENALTY = 3.0  # nats against turning a capitalised mid-sentence common word into another word
NAME_BONUS = 2.0  # nats for it when the restored name is attested in the corpus and the spun one is not
NAME_MIN_COUNT = 3  # corpus count for a restored name to be attested
CONSISTENT_MIN = 0.8  # confidence of another occurrence that lends evidence (see _restore)
SPINTAX_LLR = 6.0  # nats of article evidence per leftover spintax group (priors.CLIP)
RARE_NAME_COUNT = 10  # a spun name form seen fewer times in the corpus may stand alone ("Fb")
MAX_OPTIONS = 2  # per span, after pruning
MAX_COMBOS = 64  # per group of interacting spans
MIN_BONUS = -16.0  # nats; options with a lower prior log-odds are not scored
MAX_GROUP = 4  # spans decided jointly; longer chains of interacting spans are cut into groups of this size
MIN_POSTERIOR = 1e-3
EDIT_FEATURES = (
    "logit_posterior", "lm_gain", "doc_logit", "log_count_ratio", "log_count_spun", "spun_is_original",
    "log_weight", "capitalised_mid_sentence", "is_name", "multiword", "log_n_candidates", "name_attested",
    "logit_keep", "is_grammar", "is_phrase", "is_number",
)  # options below this independent posterior are dropped before joint decoding


@dataclass
class Restoration:
    """Result of ``Restorer.restore``.

    ``text``: the restored text; ``edits``: applied edits, ordered and non-overlapping, offsets into
    the input (``apply_edits(input, edits) == text``); ``spin_score``: probability in [0, 1] that the
    input was spun; ``rejected``: proposed edits below the threshold (same shape, not applied);
    ``n_tokens``: tokens in the input; ``n_candidates``: candidate spans considered; ``llr``: the
    article log-likelihood ratio (nats) behind ``spin_score``; ``features``: {(start, end): confidence
    features} of proposed edits, filled only when the restorer was made with ``collect_features``.
    """

    text: str
    edits: list[Edit]
    spin_score: float
    rejected: list[Edit] = field(default_factory=list)
    n_tokens: int = 0
    n_candidates: int = 0
    llr: float = 0.0
    features: dict = field(default_factory=dict)


class _Option(NamedTuple):
    toks: tuple[str, ...]
    surface: str
    kind: str
    bonus: float
    feats: tuple[float, ...] = ()  # prior features for the confidence model (see EDIT_FEATURES)
    gain: float = 0.0  # n-gram log-probability gain over keeping the span, nats (independent window)


class _Span(NamedTuple):
    i: int
    j: int
    key: tuple[str, ...]
    options: list[_Option]


class _NullModel:
    """Stand-in when no n-gram model is available: every token scores the same, every count is 0."""

    total = 1
    version = "none"

    def count(self, tokens: Sequence[str]) -> int:
        return 0

    def logprob(self, tokens: Sequence[str], start: int = 0) -> float:
        return -6.0 * max(0, len(tokens) - max(0, start))


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _load_model():
    try:
        from workers.restoration.ngram import default_model

        return default_model()
    except Exception as exc:  # missing module or data file: degrade to no context model
        log.warning("n-gram model unavailable (%s); restoring without context model", exc)
        return _NullModel()


def _score_many(model, windows: list[list[str]], starts: list[int]) -> list[float]:
    if not windows:
        return []
    fn = getattr(model, "score_many", None)
    if fn is not None:
        return fn(windows, starts)
    return [model.logprob(w, s) for w, s in zip(windows, starts)]


class Restorer:
    """Restores spun text with the spinner table and the n-gram context model.

    ``table``: a ``SpinnerTable`` (default: the shipped table plus ``extra_tables``);
    ``model``: an n-gram model with ``count``/``logprob`` (default: ``ngram.default_model()``);
    ``threshold``: edits with calibrated confidence below it are not applied (0..1);
    ``calibration``: parameters (default: ``data/calibration.json``).
    """

    def __init__(
        self,
        table: SpinnerTable | None = None,
        model: Any = None,
        threshold: float = 0.5,
        calibration: Calibration | None = None,
        extra_tables: Sequence[str] | None = None,
        collect_features: bool = False,
    ):
        self.table = table if table is not None else default_table(extra_tables)
        self.model = model if model is not None else _load_model()
        self.cal = calibration if calibration is not None else Calibration.load()
        self.threshold = threshold
        self.collect_features = collect_features
        self._forms: dict[tuple[str, ...], FormInfo] = {}
        # first token -> lengths of the table forms starting with it, longest first (longest match)
        lens: dict[str, set[int]] = {}
        for k in list(self.table.reverse) + list(self.table.forward):
            lens.setdefault(k[0], set()).add(len(k))
        self._lengths = {w: tuple(sorted(s, reverse=True)) for w, s in lens.items()}
        self._unchanged = unchanged_llr(self.cal.rho)

    @property
    def version(self) -> dict:
        """Versions of the parts: restorer code, table hash, model version, calibration source."""
        return {
            "restorer": RESTORER_VERSION,
            "table": self.table.version,
            "model": str(getattr(self.model, "version", "unknown")),
            "calibration": self.cal.fitted_on,
            "threshold": self.threshold,
        }

    # ------------------------------------------------------------------ public
    def restore(self, text: str) -> Restoration:
        """Restore ``text`` (any ``str``; ``None`` is taken as empty). Offsets are Python string
        indices. An internal error propagates, so the caller can report it (the stream dead-letters
        the article as ``processing_error``); the property tests hold that none occurs for any string."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        return self._restore(text)

    def form(self, key: tuple[str, ...]) -> FormInfo:
        """Cached prior facts of a spun form (see ``priors.form_info``)."""
        f = self._forms.get(key)
        if f is None:
            f = form_info(key, self.table, self.model, self.cal.rho)
            if len(self._forms) > 500_000:
                self._forms.clear()
            self._forms[key] = f
        return f

    # ------------------------------------------------------------------ internals
    def _restore(self, text: str) -> Restoration:
        groups = find_spintax(text)
        spintax_edits = [
            Edit(g.start, g.end, text[g.start : g.end], g.restored(text), 0.99, "spintax") for g in groups
        ]
        toks, locked = self._tokens(text, groups)
        n = [t.norm for t in toks]
        N = len(toks)

        # candidate spans and article evidence (greedy longest match for the evidence)
        spans_raw: list[tuple[int, int, tuple[str, ...]]] = []
        evid: dict[int, FormInfo] = {}
        seen: dict[tuple[str, ...], list] = {}  # spun form -> [FormInfo, occurrences]
        n_unchanged = 0
        covered_to = 0
        reverse, forward, lengths = self.table.reverse, self.table.forward, self._lengths
        for i in range(N):
            ls = lengths.get(n[i])
            if not ls:
                continue
            took = False
            for L in ls:
                if i + L > N:
                    continue
                key = tuple(n[i : i + L])
                in_rev = key in reverse
                if in_rev and not any(locked[i : i + L]):
                    spans_raw.append((i, i + L, key))
                if i >= covered_to and not took:
                    if in_rev:
                        fi = self.form(key)
                        sk = seen.get(key)
                        if sk is None:
                            seen[key] = [fi, 1]
                        else:
                            sk[1] += 1
                        evid[len(spans_raw) - 1] = fi
                        covered_to, took = i + L, True
                    elif key in forward:
                        n_unchanged += 1
                        covered_to, took = i + L, True
        tot, llr, rate = article_evidence(seen.values(), n_unchanged)
        if groups:  # leftover spintax braces are a signature of spinning, as strong as a form never seen clean
            tot = [t + SPINTAX_LLR * len(groups) for t in tot]
            llr += SPINTAX_LLR * len(groups)
        spin = self.cal.doc_score(llr, N)

        spans = self._options(text, toks, n, spans_raw, tot, evid, self.cal.rho)
        chosen = self._decide(n, spans)

        edits: list[Edit] = []
        rejected: list[Edit] = []
        features: dict = {}
        curly = bool(chosen) and text.count("\u2019") > text.count("'")
        props: list[tuple[tuple[str, ...], str, Edit]] = []
        for (sp, opt, p, p_keep) in chosen:
            a, b = toks[sp.i].start, toks[sp.j - 1].end
            orig = text[a:b]
            if case_pattern(orig) == "upper" and len(orig) <= 4 and not self._caps_line(toks, sp.i, sp.j):
                # an acronym in ordinary text ("PC", "EU"): the original keeps the table's own case
                restored = copy_case(orig[:1] + orig[1:].lower(), opt.surface) if self._sentence_initial(
                    text, toks, sp.i) else opt.surface
            else:
                restored = copy_case(orig, opt.surface)
            if not orig[:1].isalpha() and restored[:1].isalpha() and self._sentence_initial(text, toks, sp.i):
                restored = restored[:1].upper() + restored[1:]  # "1000's of" -> "Thousands of"
            if curly and "'" in restored:
                restored = restored.replace("'", "\u2019")  # the article's apostrophes ("don’t")
            if restored == orig:
                continue
            feats = self.edit_features(p, opt, p_keep)
            conf = self.cal.edit_confidence(p, feats)
            if self.collect_features:
                features[(a, b)] = feats
            props.append((sp.key, restored.lower(), Edit(a, b, orig, restored, conf, opt.kind)))  # type: ignore[arg-type]
        # a spinner swaps a form the same way throughout an article: a confident restoration of a form
        # lends half its log-odds to the other occurrences of the same form restored the same way
        best: dict[tuple, list[float]] = {}
        for key, r, e in props:
            best.setdefault((key, r), []).append(e.confidence)
        for key, r, e in props:
            confs = best[(key, r)]
            conf = e.confidence
            if len(confs) > 1:
                others = sorted(confs, reverse=True)
                other = others[1] if others[0] == conf else others[0]
                if other >= CONSISTENT_MIN:
                    conf = sigmoid(_logit(conf) + 0.5 * _logit(other))
                    e = e._replace(confidence=conf) if hasattr(e, "_replace") else Edit(
                        e.start, e.end, e.original, e.restored, conf, e.kind)
            (edits if conf >= self.threshold else rejected).append(e)
        edits = sorted(edits + spintax_edits, key=lambda e: e.start)
        return Restoration(
            text=apply_edits(text, edits),
            edits=edits,
            spin_score=spin,
            rejected=rejected,
            n_tokens=N,
            n_candidates=len(spans),
            llr=llr,
            features=features,
        )

    @staticmethod
    def _tokens(text: str, groups) -> tuple[list[Token], list[bool]]:
        """Tokens for matching and scoring: format characters (zero-width etc.) dropped, spintax
        braces and unused options dropped, tokens of the kept option locked."""
        toks = tokenize(text)
        if not groups and all(len(t.text) > 1 or unicodedata.category(t.text) != "Cf" for t in toks):
            return toks, [False] * len(toks)
        out: list[Token] = []
        locked: list[bool] = []
        gi = 0
        for t in toks:
            if len(t.text) == 1 and unicodedata.category(t.text) == "Cf":
                continue
            while gi < len(groups) and groups[gi].end <= t.start:
                gi += 1
            if gi < len(groups) and groups[gi].start <= t.start < groups[gi].end:
                g = groups[gi]
                if g.keep_start <= t.start and t.end <= g.keep_end:
                    out.append(t)
                    locked.append(True)
                continue
            out.append(t)
            locked.append(False)
        return out, locked

    @staticmethod
    def edit_features(p: float, opt: _Option, p_keep: float = 0.5) -> list[float]:
        """Features of a proposed edit for the confidence model, in the order of ``EDIT_FEATURES``:
        ``p`` the option's posterior, ``p_keep`` the posterior of keeping the span (the rest of the mass
        is on rival originals, so a low ``p`` with a low ``p_keep`` means a close call between originals)."""
        p = min(max(p, 1e-9), 1 - 1e-9)
        k = min(max(p_keep, 1e-9), 1 - 1e-9)
        return [
            math.log(p / (1 - p)), max(-20.0, min(20.0, opt.gain)), *opt.feats, math.log(k / (1 - k)),
            float(opt.kind == "grammar"), float(opt.kind == "phrase"), float(opt.kind == "number"),
        ]

    @staticmethod
    def _caps_line(toks: list[Token], i: int, j: int) -> bool:
        """A neighbouring word of tokens ``[i, j)`` is written in capitals too (an all-caps headline)."""
        for k in (i - 2, i - 1, j, j + 1):
            if 0 <= k < len(toks):
                w = toks[k].text
                if len(w) >= 2 and w.isalpha() and w.isupper():
                    return True
        return False

    @staticmethod
    def _sentence_initial(text: str, toks: list[Token], i: int) -> bool:
        if i == 0:
            return True
        p = toks[i - 1]
        return p.text in ".!?" or "\n" in text[p.end : toks[i].start]

    def _context(self, text: str, toks: list[Token]) -> tuple[list[bool], list[bool]]:
        """Per token: sentence-initial, and inside a title-case or all-caps line (headline)."""
        N = len(toks)
        init = [False] * N
        for i, t in enumerate(toks):
            if i == 0:
                init[i] = True
                continue
            p = toks[i - 1]
            init[i] = p.text in SENTENCE_END or "\n" in text[p.end : t.start]
        head = [False] * N
        i = 0
        while i < N:
            j = i + 1
            while j < N and "\n" not in text[toks[j - 1].end : toks[j].start]:
                j += 1
            words = [t.text for t in toks[i:j] if t.text[:1].isalpha() and len(t.text) > 3]
            if len(words) >= 2 and sum(w[0].isupper() for w in words) >= 0.75 * len(words):
                for k in range(i, j):
                    head[k] = True
            i = j
        return init, head

    def _options(self, text, toks, n, spans_raw, tot, evid, rho) -> list[_Span]:
        """Candidate options per span; ``tot``: article llr per rate of ``RHO_GRID``, ``evid``: {span index:
        its FormInfo when it counted as article evidence}, ``rho``: the article's estimated rate."""
        if not spans_raw:
            return []
        init, head = self._context(text, toks)
        cal = self.cal
        pis: dict[int, float] = {}
        N = len(toks)
        # words written capitalised mid-sentence in the body are names here, also where a headline
        # or a sentence start capitalises them anyway ("Harbor Logistics" in the headline)
        names = {
            toks[k].norm for k in range(N) if not init[k] and not head[k] and is_capitalised(toks[k].text)
        }
        spans: list[_Span] = []
        for idx, (i, j, key) in enumerate(spans_raw):
            f = self.form(key)
            own = evid.get(idx)
            pi = pis.get(id(own))
            if pi is None:  # spin score without the span's own evidence
                wo = tot if own is None else [t - v for t, v in zip(tot, own.llrs)]
                pi = pis[id(own)] = cal.doc_score(mean_llr(wo), N)
            keep_p = 1 - pi * rho * f.is_original
            first = toks[i].text
            cap = is_capitalised(first)
            midcap = cap and ((not init[i] and not head[i]) or toks[i].norm in names)
            prev_cap = i > 0 and is_capitalised(toks[i - 1].text) and toks[i - 1].text[:1].isalpha()
            next_cap = j < N and is_capitalised(toks[j].text) and toks[j].text[:1].isalpha()
            inner_cap = j - i > 1 and sum(is_capitalised(toks[k].text) for k in range(i, j)) >= 2
            opts: list[_Option] = []
            for c, otoks, c_o in f.candidates:
                if not otoks:
                    continue
                bonus = math.log(max(1e-12, pi * rho * c.weight)) - math.log(max(1e-12, keep_p))
                orig_cap = c.original[:1].isupper()
                if c.kind == "name":
                    # a name part stands next to another one, unless the spun form is itself no name
                    # clean text uses ("Fb" for Facebook)
                    if not cap or not (next_cap or prev_cap or inner_cap or f.count < RARE_NAME_COUNT):
                        continue
                    nb = (n[i - 1],) + key if prev_cap and i > 0 else key + ((n[j],) if j < N else ())
                    if len(nb) > len(key) and len(nb) <= 3 and self.model.count(nb) > 0:
                        continue  # the spun name is a real name in the corpus
                elif orig_cap and not cap:
                    continue  # "wall road" is not the street
                elif midcap and not orig_cap and case_pattern(text[toks[i].start : toks[j - 1].end]) != "upper":
                    attested = (prev_cap or next_cap) and self._name_attested(n, i, j, otoks, prev_cap, next_cap)
                    if attested:  # "Manchester Unified" -> "Manchester United": the restored name is known
                        bonus += NAME_BONUS
                    else:
                        bonus -= NAME_PENALTY
                else:
                    attested = False
                if c.kind == "name" or orig_cap or not midcap:
                    attested = False
                feats = (
                    max(-10.0, min(10.0, math.log(pi / max(1e-12, 1 - pi)))),
                    math.log((c_o + 1) / (f.count + 1)),
                    math.log(f.count + 1),
                    float(f.is_original),
                    math.log(c.weight),
                    float(midcap),
                    float(c.kind == "name"),
                    float(len(key) > 1 or len(otoks) > 1),
                    math.log(len(f.candidates)),
                    float(attested),
                )
                if bonus < MIN_BONUS:
                    continue  # no n-gram gain could make it win: saves scoring on clean articles
                opts.append(_Option(otoks, c.original, c.kind, bonus, feats))
            if opts:
                spans.append(_Span(i, j, key, opts))
        return spans

    def _name_attested(self, n, i, j, otoks, prev_cap, next_cap) -> bool:
        """The restored span with a capitalised neighbour ("manchester united", "justice network") is a
        corpus n-gram (count >= NAME_MIN_COUNT) and the spun one ("manchester unified") is not."""
        sides = []
        if prev_cap:
            sides.append(((n[i - 1],), ()))
        if next_cap and j < len(n):
            sides.append(((), (n[j],)))
        for left, right in sides:
            spun = left + tuple(n[i:j]) + right
            orig = left + tuple(otoks) + right
            if len(orig) <= 3 and len(spun) <= 3 and self.model.count(spun) == 0 \
                    and self.model.count(orig) >= NAME_MIN_COUNT:
                return True
        return False

    def _decide(self, n: list[str], spans: list[_Span]) -> list[tuple[_Span, _Option, float, float]]:
        """Choose options jointly per group of interacting spans; returns (span, option, posterior)
        for the spans whose best choice is an option rather than keeping the text."""
        if not spans:
            return []
        lmw = self.cal.lm_weight * LN10
        model = self.model
        # pass 1: independent windows
        windows: list[list[str]] = []
        starts: list[int] = []
        for sp in spans:
            left = n[max(0, sp.i - 2) : sp.i]
            right = n[sp.j : sp.j + 2]
            windows.append(left + n[sp.i : sp.j] + right)
            starts.append(len(left))
            for o in sp.options:
                windows.append(left + list(o.toks) + right)
                starts.append(len(left))
        scores = _score_many(model, windows, starts)
        pruned: list[_Span] = []
        single: dict[tuple[int, int], list[float]] = {}  # pass-1 scores: keep, then each kept option
        k = 0
        for sp in spans:
            keep = scores[k] * lmw
            k += 1
            vals = []
            for o in sp.options:
                vals.append(scores[k] * lmw + o.bonus)
                k += 1
            mx = max([keep] + vals)
            z = math.exp(keep - mx) + sum(math.exp(v - mx) for v in vals)
            ranked = sorted(
                ((math.exp(v - mx) / z, o) for v, o in zip(vals, sp.options)), key=lambda t: -t[0]
            )
            gains = {o.surface: v - o.bonus - keep for v, o in zip(vals, sp.options)}
            opts = [o._replace(gain=gains[o.surface]) for p, o in ranked[:MAX_OPTIONS] if p >= MIN_POSTERIOR]
            if opts:
                pruned.append(_Span(sp.i, sp.j, sp.key, opts))
                single[(sp.i, sp.j)] = [keep] + [keep + o.gain + o.bonus for o in opts]
        if not pruned:
            return []

        # groups of interacting spans
        groups: list[list[_Span]] = []
        end = -10
        for sp in sorted(pruned, key=lambda s: (s.i, s.j)):
            # overlapping spans always join (the words of one long spun name are one decision);
            # spans that are only near each other join up to MAX_GROUP
            if groups and (sp.i < end or (sp.i <= end + 2 and len(groups[-1]) < MAX_GROUP)):
                groups[-1].append(sp)
                end = max(end, sp.j)
            else:
                groups.append([sp])
                end = sp.j
        # pass 2: joint windows per group
        # each job: (group, combinations, their outcomes (token tuples), their scores)
        jobs: list[tuple[list[_Span], list[tuple[int, ...]], list[tuple[str, ...]]]] = []
        windows, starts = [], []
        done: list[tuple[list[_Span], list[tuple[int, ...]], list[tuple[str, ...]] | None, list[float]]] = []
        for g in groups:
            if len(g) == 1:  # nothing interacts: the independent window is the joint one
                done.append((g, [(c,) for c in range(len(g[0].options) + 1)], None, single[(g[0].i, g[0].j)]))
                continue
            combos = self._combos(g)
            if len(combos) > MAX_COMBOS:
                g2 = [_Span(s.i, s.j, s.key, s.options[:1]) for s in g]
                combos = self._combos(g2)
                if len(combos) > MAX_COMBOS:
                    for s in g2:  # too dense: decide span by span
                        jobs.append(([s], [(0,), (1,)], self._windows(n, [s], [(0,), (1,)], windows, starts)))
                    continue
                g = g2
            jobs.append((g, combos, self._windows(n, g, combos, windows, starts)))
        scores = _score_many(model, windows, starts)
        out: list[tuple[_Span, _Option, float, float]] = []
        k = 0
        for g, combos, outcomes in jobs:
            vals = []
            for c in combos:
                v = scores[k] * lmw + sum(g[s].options[ci - 1].bonus for s, ci in enumerate(c) if ci)
                vals.append(v)
                k += 1
            done.append((g, combos, outcomes, vals))
        for g, combos, outcomes, vals in done:
            mx = max(vals)
            ws = [math.exp(v - mx) for v in vals]
            z = sum(ws)
            if len(g) == 1 and len(combos) <= 2:
                best = combos[vals.index(mx)]
                seqs = None
            else:
                # combinations that give the same text are one outcome ("College district" as a phrase
                # or as the word "College"): the best outcome is the one with the most total weight
                seqs = outcomes if outcomes is not None else [self._outcome(n, g, c) for c in combos]
                tot: dict = {}
                for q, w in zip(seqs, ws):
                    tot[q] = tot.get(q, 0.0) + w
                bq = max(tot, key=tot.__getitem__)
                # among them the one with the fewest edits (a spinner rewrites the longest table
                # phrase, "Division of Native Land Safety", not its words one by one), then the best scored
                best = max(
                    (k for k, q in enumerate(seqs) if q == bq),
                    key=lambda k: (
                        -sum(1 for ci in combos[k] if ci),
                        sum(g[s].j - g[s].i for s, ci in enumerate(combos[k]) if ci),
                        vals[k],
                    ),
                )
                best = combos[best]
            for s, ci in enumerate(best):
                if ci:
                    if seqs is None:
                        p = sum(w for w, c in zip(ws, combos) if c[s] == ci) / z
                    else:
                        p = sum(w for w, c, q in zip(ws, combos, seqs) if c[s] == ci or q == bq) / z
                    pk = min(1.0 - p, sum(w for w, c in zip(ws, combos) if c[s] == 0) / z)
                    out.append((g[s], g[s].options[ci - 1], p, pk))
        # a span may appear in two groups only when split; keep non-overlapping, best first
        out.sort(key=lambda t: t[0].i)
        res: list[tuple[_Span, _Option, float, float]] = []
        last = -1
        for t in out:
            if t[0].i >= last:
                res.append(t)
                last = t[0].j
        return res

    @staticmethod
    def _combos(g: list[_Span]) -> list[tuple[int, ...]]:
        """All non-overlapping assignments (0 = keep, k = option k) of a group's spans (sorted by
        start), by depth-first search; stops early and returns ``MAX_COMBOS + 1`` items when there
        are more than ``MAX_COMBOS``."""
        out: list[tuple[int, ...]] = []
        m = len(g)
        cur: list[int] = []

        def dfs(s: int, last_end: int) -> bool:
            if s == m:
                out.append(tuple(cur))
                return len(out) > MAX_COMBOS
            cur.append(0)
            if dfs(s + 1, last_end):
                return True
            cur.pop()
            if g[s].i >= last_end:
                for k in range(1, len(g[s].options) + 1):
                    cur.append(k)
                    if dfs(s + 1, g[s].j):
                        return True
                    cur.pop()
            return False

        dfs(0, -1)
        return out

    @staticmethod
    def _outcome(n, g, c) -> tuple[str, ...]:
        """Tokens of the group's region after applying the combination ``c`` (``g`` sorted by start)."""
        a = g[0].i
        b = max(s.j for s in g)
        seq: list[str] = []
        pos = a
        for s, ci in zip(g, c):
            if not ci:
                continue
            seq.extend(n[pos : s.i])
            seq.extend(s.options[ci - 1].toks)
            pos = s.j
        seq.extend(n[pos:b])
        return tuple(seq)

    @staticmethod
    def _windows(n, g, combos, windows, starts) -> list[tuple[str, ...]]:
        """Append one scoring window per combination (two tokens of context each side) to
        ``windows``/``starts``; return the combinations' outcomes, reused by the decision."""
        a = g[0].i
        b = max(s.j for s in g)
        left = n[max(0, a - 2) : a]
        right = n[b : b + 2]
        outcomes = [Restorer._outcome(n, g, c) for c in combos]
        for seq in outcomes:
            windows.append([*left, *seq, *right])
            starts.append(len(left))
        return outcomes


@lru_cache(maxsize=1)
def default_restorer() -> Restorer:
    """The process-wide restorer with the shipped table, model and calibration (loaded once)."""
    return Restorer()
