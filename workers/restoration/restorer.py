"""The restorer: spun article in, likely original wording and the edits that produce it out.

Steps for one text (see ``Restorer.restore``):

1. Leftover spintax groups ("{that a}") become edits of kind ``spintax``.
2. Knowledge comes in spinner families (``families.py``: the shipped news table, the WordNet-synset
   family, each imported dictionary, learned substitutions). In every family, each token span whose
   normalised tokens are a spun form of its table is a candidate span; its options are the originals,
   inflected like the spun form (``table.py``). The families' forms are indexed by token ids and found by
   one compiled scan (``matching.py``).
3. Article-level evidence per family: the naive-Bayes log-likelihood ratio of the article's forms of
   that family (``priors.py``) and its strongest signatures give the family's calibrated log-odds that
   the article was spun with it; the article is attributed to the strongest family, or to none
   (``Restoration.family``), and ``spin_score`` is that family's probability. An article attributed to
   no family is restored only where an edit is near-certain (``UNATTRIBUTED_THRESHOLD``), and not at all
   when even its strongest family is unlikely (below ``UNATTRIBUTED_MIN``).
4. Each option gets a prior log-odds ``log(sum_f pi_f * rho * w_f) - log(1 - sum_f pi_f * rho * m_f)``
   (``pi_f``: the probability that the article's spinner uses family ``f``'s pairs, without the span's
   own evidence; ``rho``: substitution rate; ``w_f``: the family's weight of the pair; ``m_f``: the spun
   form is itself one of its originals) plus the n-gram log-probability gain of the window (2 tokens
   left, the variant, 2 tokens right) over keeping the span (``ngram.py``). The priors are computed in
   compiled code from each form's facts kept as arrays (``candidates.py``).
5. Interacting spans (overlapping or within 2 tokens) are decided jointly (``decision.py``): all
   combinations of their plausible options are scored over one window and the best is taken; an edit's
   posterior is its marginal over the combinations, calibrated to a confidence (``calibration.py``). A form restored
   confidently in one place is restored the same way where the decision kept it, title and body alike,
   unless the context there speaks against it.
6. Edits with confidence >= ``threshold`` are applied; the restored text copies the spun span's
   capitalisation (``casing.py``). Name parts are restored only inside a capitalised name whose spun
   form is unknown to the corpus; common words used as capitalised names are penalised.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple, Sequence

import numpy as np

from workers.restoration.calibration import Calibration, sigmoid
from workers.restoration.candidates import CandidateStore
from workers.restoration.candidates import _options as _candidate_options
from workers.restoration.casing import SENTENCE_END, case_pattern, copy_case
from workers.restoration.decision import Decider, Option, Span
from workers.restoration.edits import Edit, apply_edits
from workers.restoration.matching import FormIndex
from workers.restoration.ngram import NgramModel
from workers.restoration.priors import (
    TOP_SIGNATURES, article_evidence, form_info, mean_llr, top_signatures,
)
from workers.restoration.spintax import find_spintax
from workers.restoration.families import PRIORS, Family, shipped_families
from workers.restoration.table import Entry, SpinnerTable, build_table
from workers.restoration.tokens import Tokens, token_lists

log = logging.getLogger(__name__)

LN10 = math.log(10.0)
RESTORER_VERSION = "1"
CONSISTENT_MIN = 0.8  # confidence of another occurrence that lends evidence (see _restore)
SPINTAX_LLR = 6.0  # nats of article evidence per leftover spintax group (priors.CLIP)
# Confidence an edit needs to be applied, chosen on the tuning split for precision where the restorer does
# not hold its spinner's whole dictionary (about 0.87 with 30 % of it unknown); also UNSPUN_RESTORE_THRESHOLD's default.
DEFAULT_THRESHOLD = 0.7
# An article whose strongest family has at least this probability of having spun it is attributed to that family
# and restored; below it only near-certain edits are applied (see UNATTRIBUTED_MIN) (clean British English reads
# as spun to a model of US press releases: 0.9 keeps false edits on clean news of the tuning split near 0.04 per
# 1,000 words).
FAMILY_MIN = 0.9
# An article below FAMILY_MIN is still decoded when its strongest family reaches UNATTRIBUTED_MIN, and its edits
# of at least UNATTRIBUTED_THRESHOLD confidence are applied (the article stays attributed to no family): spun with
# a dictionary the restorer holds little of, an article shows too few known forms to be attributed, yet the
# forms it does show restore well. Chosen on the tuning split: with a spinner's dictionary unknown (thesaurus,
# WordNet) about 6x the edits (9x the word recall) at 0.9 precision instead of 0.6; false edits on clean news
# +0.03 per 1,000 words at most (most clean articles stay below 0.01 and are not decoded).
UNATTRIBUTED_MIN = 0.01
UNATTRIBUTED_THRESHOLD = 0.95
EDIT_FEATURES = (
    "logit_posterior", "lm_gain", "doc_logit", "log_count_ratio", "log_count_spun", "spun_is_original",
    "log_weight", "capitalised_mid_sentence", "is_name", "multiword", "log_n_candidates", "name_attested",
    "logit_keep", "is_grammar", "is_phrase", "is_number",
)


@dataclass
class Restoration:
    """Result of ``Restorer.restore``.

    ``text``: the restored text; ``edits``: applied edits, ordered and non-overlapping, offsets into
    the input (``apply_edits(input, edits) == text``); ``spin_score``: probability in [0, 1] that the
    input was spun; ``rejected``: proposed edits below the threshold (same shape, not applied);
    ``n_tokens``: tokens in the input; ``n_candidates``: candidate spans considered; ``llr``: the
    article log-likelihood ratio (nats) behind ``spin_score`` and ``top`` its strongest signatures (nats); ``features``: {(start, end): confidence
    features} of proposed edits, filled only when the restorer was made with ``collect_features``;
    ``family``: name of the spinner family the article is attributed to (``None``: no family's probability of
    having spun it reaches ``FAMILY_MIN``; only edits of confidence >= ``UNATTRIBUTED_THRESHOLD`` are then
    applied, none below ``UNATTRIBUTED_MIN``) and ``family_confidence`` its
    share of the posterior over families and "not spun", in [0, 1].
    """

    text: str
    edits: list[Edit]
    spin_score: float
    rejected: list[Edit] = field(default_factory=list)
    n_tokens: int = 0
    n_candidates: int = 0
    llr: float = 0.0
    features: dict = field(default_factory=dict)
    family: str | None = None
    family_confidence: float = 0.0
    top: float = 0.0


class _NullModel(NgramModel):
    """Stand-in when no n-gram model is available: a model with no data, where every token is an unseen word
    (its score depends only on how much history it has) and every count is 0."""

    def __init__(self):
        none = np.zeros(0, dtype=np.int64)
        super().__init__([], np.zeros(1), np.zeros(1, dtype=np.int64), none, none, none, none, none,
                         {"tokens": 1, "version": "none"})


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _family_posterior(logits: list[float]) -> list[float]:
    """Posterior of each family from its log-odds against "not spun" (the none class has log-odds 0)."""
    mx = max([0.0, *logits])
    ws = [math.exp(x - mx) for x in logits]
    z = math.exp(-mx) + sum(ws)
    return [w / z for w in ws]


def _load_model():
    try:
        from workers.restoration.ngram import default_model

        return default_model()
    except Exception as exc:  # missing module or data file: degrade to no context model
        log.warning("n-gram model unavailable (%s); restoring without context model", exc)
        return _NullModel()


class Restorer:
    """Restores spun text with the spinner table and the n-gram context model.

    ``table``: a ``SpinnerTable`` (default: the shipped table plus ``extra_tables``);
    ``model``: an n-gram model with ``count``/``ids``/``score_flat`` (default: ``ngram.default_model()``);
    ``threshold``: edits with calibrated confidence below it are not applied (0..1);
    ``calibration``: parameters (default: ``data/calibration.json``).
    """

    def __init__(
        self,
        table: SpinnerTable | None = None,
        model: Any = None,
        threshold: float = DEFAULT_THRESHOLD,
        calibration: Calibration | None = None,
        extra_tables: Sequence[str] | None = None,
        collect_features: bool = False,
        families: Sequence[Family] | None = None,
    ):
        if families is None:
            families = [Family("news", table)] if table is not None else shipped_families(extra_tables or ())
        self.families: list[Family] = list(families)
        self.model = model if model is not None else _load_model()
        self.cal = calibration if calibration is not None else Calibration.load()
        self.threshold = threshold
        self.collect_features = collect_features
        self._index, self._store = self._indexed(self.families)
        self._decider = Decider(self.model, self.cal.lm_weight * LN10)

    @property
    def table(self) -> SpinnerTable:
        """The first family's table (the shipped news table by default)."""
        return self.families[0].table

    def update_family(self, name: str, entries: Sequence[Entry]) -> None:
        """Replace (or add) the family ``name`` with a table built from ``entries`` (``table.Entry``);
        used to bring learned substitutions in without a restart. The families, their form index and
        their store of form facts are rebuilt aside and swapped in one assignment."""
        fam = Family(name, build_table(list(entries), version=f"{name}-{len(entries)}"), PRIORS.get(name, 0.0))
        names = [f.name for f in self.families]
        k = names.index(name) if name in names else len(names)
        fams = list(self.families)
        if k == len(names):
            fams.append(fam)
        else:
            fams[k] = fam
        index, store = self._indexed(fams)
        self.families, self._index, self._store = fams, index, store

    def _indexed(self, fams: list[Family]) -> tuple[FormIndex, CandidateStore]:
        """The families' forms indexed for the scan, and an empty store of their facts."""
        index = FormIndex([f.table for f in fams])
        return index, CandidateStore(index, lambda key, fi: form_info(key, fams[fi].table, self.model, self.cal.rho))

    @property
    def version(self) -> dict:
        """Versions of the parts: restorer code, table hash, model version, calibration source."""
        return {
            "restorer": RESTORER_VERSION,
            "table": "+".join(f"{f.name}:{f.table.version}" for f in self.families),
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

    # ------------------------------------------------------------------ internals
    def _restore(self, text: str) -> Restoration:
        groups = find_spintax(text)
        spintax_edits = [
            Edit(g.start, g.end, text[g.start : g.end], g.restored(text), 0.99, "spintax") for g in groups
        ]
        toks, locked = self._tokens(text, groups)
        n = toks.norm
        N = len(n)

        # per family: candidate spans and article evidence (greedy longest match for the evidence)
        index, store = self._index, self._store
        e_i, e_j, e_g, e_own, hits, unchanged = index.scan(index.token_ids(n), locked)
        store.ensure(np.concatenate((e_g, hits)))
        hit_fam = index.family[hits]
        logits: list[float] = []
        tots: list[list[float]] = []
        llrs: list[float] = []
        tops: list[float] = []
        for fi in range(len(self.families)):
            g, k = np.unique(hits[hit_fam == fi], return_counts=True)
            tot, llr = article_evidence(k, store.llrs[g], int(unchanged[fi]))
            top = top_signatures(k, store.llr[g])
            if groups:  # leftover spintax braces are a signature of spinning, as strong as a form never seen clean
                tot = [t + SPINTAX_LLR * len(groups) for t in tot]
                llr += SPINTAX_LLR * len(groups)
                top += SPINTAX_LLR * min(len(groups), TOP_SIGNATURES)
            tots.append(tot)
            llrs.append(llr)
            tops.append(top)
            logits.append(self.cal.doc_logit(llr, N, top) + self.families[fi].prior)
        best_f = max(range(len(logits)), key=logits.__getitem__)
        spin = sigmoid(logits[best_f])
        post = _family_posterior(logits)
        family = self.families[best_f].name if spin >= FAMILY_MIN else None

        # an article no family is likely to have spun is left as it is (but for spintax); one attributed to no
        # family but not unlikely to be spun keeps only its near-certain edits
        decode = (family is not None or spin >= UNATTRIBUTED_MIN) and len(e_i) > 0
        threshold = self.threshold if family is not None else max(self.threshold, UNATTRIBUTED_THRESHOLD)
        nid = np.asarray(self.model.ids(n, distinct_unknown=True) if decode else [], dtype=np.int64)
        cands = self._options(text, toks, nid, (e_i, e_j, e_g, e_own), tots, tops, logits) if decode else None
        # chosen: (span, option, posterior, posterior of keeping, n-gram gain), indices into ``cands``
        chosen = [] if cands is None else self._consistent(nid, cands, self._decider.decide_arrays(
            nid, cands.i, cands.j, cands.first, cands.bonus, cands.hash, cands.khash, cands.ifirst, cands.iflat))
        n_spans = 0 if cands is None else len(cands.i)

        edits: list[Edit] = []
        rejected: list[Edit] = []
        features: dict = {}
        curly = bool(chosen) and text.count("\u2019") > text.count("'")
        found: list[tuple] = []  # proposed edits before their confidence
        kept: list[int] = []  # their rows of ``chosen``
        if chosen:
            sp_i, sp_j, sp_key, _ = cands.py
            keys = index.keys
            surface_of, kind_of = cands.surface, cands.kind
            starts, ends = toks.start, toks.end
        for row, (s, o, *_) in enumerate(chosen):
            i, j = sp_i[s], sp_j[s]
            a, b = starts[i], ends[j - 1]
            orig = text[a:b]
            surface = surface_of(o)
            if len(orig) <= 4 and case_pattern(orig) == "upper" and not self._caps_line(toks, i, j):
                # an acronym in ordinary text ("PC", "EU"): the original keeps the table's own case
                restored = copy_case(orig[:1] + orig[1:].lower(), surface) if self._sentence_initial(
                    text, toks, i) else surface
            else:
                restored = copy_case(orig, surface)
            if not orig[:1].isalpha() and restored[:1].isalpha() and self._sentence_initial(text, toks, i):
                restored = restored[:1].upper() + restored[1:]  # "1000's of" -> "Thousands of"
            if curly and "'" in restored:
                restored = restored.replace("'", "\u2019")  # the article's apostrophes ("don’t")
            if restored == orig:
                continue
            found.append((keys[sp_key[s]], restored.lower(), a, b, orig, restored, kind_of(o)))
            kept.append(row)
        if found:
            s_, o_, p_, pk_, g_ = (np.asarray(col) for col in zip(*(chosen[r] for r in kept)))
            feats = self.edit_features(p_, pk_, g_, cands.facts(s_, o_), [t[6] for t in found])
            confs = self.cal.edit_confidences(p_, feats)
        else:
            feats, confs = np.zeros((0, len(EDIT_FEATURES))), []
        if self.collect_features:
            features = {(t[2], t[3]): f for t, f in zip(found, feats.tolist())}
        props = [(key, low, Edit(a, b, orig, restored, conf, kind))  # type: ignore[arg-type]
                 for (key, low, a, b, orig, restored, kind), conf in zip(found, confs)]
        # a spinner swaps a form the same way throughout an article: a confident restoration of a form
        # lends half its log-odds to the other occurrences of the same form restored the same way
        best: dict[tuple, list[float]] = {}  # (form, restored) -> its two highest confidences
        for key, r, e in props:
            top = best.setdefault((key, r), [])
            top.append(e.confidence)
            if len(top) > 2:
                top.sort(reverse=True)
                del top[2:]
        for key, r, e in props:
            top = best[(key, r)]
            conf = e.confidence
            if len(top) > 1:
                top1, top2 = max(top), min(top)
                other = top2 if top1 == conf else top1  # the best of the other occurrences
                if other >= CONSISTENT_MIN:
                    conf = sigmoid(_logit(conf) + 0.5 * _logit(other))
                    e = Edit(e.start, e.end, e.original, e.restored, conf, e.kind)
            (edits if conf >= threshold else rejected).append(e)
        edits = sorted(edits + spintax_edits, key=lambda e: e.start)
        return Restoration(
            text=apply_edits(text, edits),
            edits=edits,
            spin_score=spin,
            rejected=rejected,
            n_tokens=N,
            n_candidates=n_spans,
            llr=llrs[best_f],
            features=features,
            family=family,
            family_confidence=post[best_f],
            top=tops[best_f],
        )

    @staticmethod
    def _tokens(text: str, groups) -> tuple[Tokens, list[bool]]:
        """Tokens for matching and scoring: format characters (zero-width etc.) dropped, spintax
        braces and unused options dropped, tokens of the kept option locked."""
        toks = token_lists(text)
        if not groups and all(len(w) > 1 or unicodedata.category(w) != "Cf" for w in toks.text):
            return toks, [False] * len(toks.text)
        keep: list[int] = []
        locked: list[bool] = []
        gi = 0
        for k, (w, start, end) in enumerate(zip(toks.text, toks.start, toks.end)):
            if len(w) == 1 and unicodedata.category(w) == "Cf":
                continue
            while gi < len(groups) and groups[gi].end <= start:
                gi += 1
            if gi < len(groups) and groups[gi].start <= start < groups[gi].end:
                g = groups[gi]
                if g.keep_start <= start and end <= g.keep_end:
                    keep.append(k)
                    locked.append(True)
                continue
            keep.append(k)
            locked.append(False)
        return Tokens(*([col[k] for k in keep] for col in toks)), locked

    @staticmethod
    def edit_features(ps: np.ndarray, p_keeps: np.ndarray, gains: np.ndarray, facts: np.ndarray,
                      kinds: Sequence[str]) -> np.ndarray:
        """Features of proposed edits for the confidence model, one row per edit in the order of
        ``EDIT_FEATURES``: ``ps`` the options' posteriors, ``p_keeps`` the posteriors of keeping their spans
        (the rest of the mass is on rival originals, so a low ``p`` with a low ``p_keep`` means a close call
        between originals), ``gains`` their n-gram gains (nats), ``facts`` their prior facts (edits x 10, see
        ``_Candidates.facts``), ``kinds`` their table kinds. Returns a float64 array (edits x features)."""
        if not len(ps):
            return np.zeros((0, len(EDIT_FEATURES)))
        p = np.clip(np.asarray(ps, dtype=np.float64), 1e-9, 1 - 1e-9)
        k = np.clip(np.asarray(p_keeps, dtype=np.float64), 1e-9, 1 - 1e-9)
        pi, c_o, count, is_original, weight, midcap, is_name, multiword, n_cands, attested = facts.T
        pi = np.maximum(pi, 1e-12)  # (pi is already clamped to [1e-9, 1 - 1e-9])
        kinds = np.asarray(kinds)
        return np.stack([
            np.log(p / (1 - p)), np.clip(np.asarray(gains, dtype=np.float64), -20.0, 20.0),
            np.clip(np.log(pi / np.maximum(1e-12, 1 - pi)), -10.0, 10.0), np.log((c_o + 1) / (count + 1)),
            np.log(count + 1), is_original, np.log(weight), midcap, is_name, multiword, np.log(n_cands), attested,
            np.log(k / (1 - k)), kinds == "grammar", kinds == "phrase", kinds == "number",
        ], axis=1).astype(np.float64)

    @staticmethod
    def _caps_line(toks: Tokens, i: int, j: int) -> bool:
        """A neighbouring word of tokens ``[i, j)`` is written in capitals too (an all-caps headline)."""
        for k in (i - 2, i - 1, j, j + 1):
            if 0 <= k < len(toks.text):
                w = toks.text[k]
                if len(w) >= 2 and w.isalpha() and w.isupper():
                    return True
        return False

    @staticmethod
    def _sentence_initial(text: str, toks: Tokens, i: int) -> bool:
        if i == 0:
            return True
        return toks.text[i - 1] in ".!?" or "\n" in text[toks.end[i - 1] : toks.start[i]]

    def _context(self, text: str, toks: Tokens) -> tuple[list[bool], list[bool]]:
        """Per token: sentence-initial, and inside a title-case or all-caps line (headline)."""
        words, N = toks.text, len(toks.text)
        # a line break before each token
        nl = [True] * (N > 0) + [False] * (N - 1)
        p = text.find("\n")
        while p >= 0:  # (a line break is never inside a token)
            k = bisect_right(toks.start, p)
            if k < N:
                nl[k] = True
            p = text.find("\n", p + 1)
        init = [True] + [b or w in SENTENCE_END for w, b in zip(words, nl[1:])]
        head = [False] * N
        starts = [k for k in range(N) if nl[k]] + [N]
        for i, j in zip(starts, starts[1:]):
            line = [w for w in words[i:j] if len(w) > 3 and w[:1].isalpha()]
            if len(line) >= 2 and sum(w[0].isupper() for w in line) >= 0.75 * len(line):
                head[i:j] = [True] * (j - i)
        return init, head

    def _options(self, text, toks, nid, entries, tots, tops, logits) -> "_Candidates | None":
        """Candidate options of the scan's span ``entries`` (starts, ends, form ids, counted as the family's
        evidence) with their priors (``candidates._options``); ``tots``/``tops``/``logits``: per family, the
        article llr per rate of ``RHO_GRID``, its strongest signatures and the attribution log-odds.

        An original's prior mass is summed over the families that hold the pair, each weighted by the
        probability that the article's spinner uses that family's pairs, judged from the family's own
        evidence without the span's (a family the article shows no sign of contributes nothing; families
        overlap, as a learned family overlaps the spinner it was learned from, so they do not compete)."""
        e_i, e_j, e_g, e_own = entries
        index, store = self._index, self._store
        e_fam = index.family[e_g]
        order = np.lexsort((e_fam, e_j, e_i))
        e_i, e_j, e_g, e_own, e_fam = e_i[order], e_j[order], e_g[order], e_own[order], e_fam[order]
        init, head = self._context(text, toks)
        N = len(toks.text)
        # words written capitalised mid-sentence in the body are names here, also where a headline
        # or a sentence start capitalises them anyway ("Harbor Logistics" in the headline)
        caps = [w[:1].isupper() for w in toks.text]  # capitalised: the first character is upper case
        names = {toks.norm[k] for k in range(N) if caps[k] and not init[k] and not head[k]}
        capw = [c and w[:1].isalpha() for c, w in zip(caps, toks.text)]  # a capitalised word, not a number
        midcap = [c and ((not a and not h) or w in names) for c, a, h, w in zip(caps, init, head, toks.norm)]
        upper = np.zeros(len(e_i), dtype=np.bool_)
        for k in np.flatnonzero(np.asarray(midcap, dtype=np.bool_)[e_i]).tolist():
            upper[k] = case_pattern(text[toks.start[e_i[k]] : toks.end[e_j[k] - 1]]) == "upper"
        c0, c_llr, c_top = self.cal.doc_linear(N)
        w, c_o, origid, name, origcap, ids, nids, ohash, ids_flat = store.arrays()
        sp_i, sp_j, sp_key, sp_f, sp_pi, first, o_c, bonus, att = _candidate_options(
            self.model._tables, self.model.vocab_size, nid, e_i, e_j, e_g, e_own, e_fam, upper,
            np.asarray(caps, dtype=np.bool_), np.asarray(capw, dtype=np.bool_), np.asarray(midcap, dtype=np.bool_),
            store.llr, store.count, store.orig, store.ncand, store.best, store.nbest,
            w, c_o, origid, name, origcap, ids, nids, ids_flat,
            np.asarray(logits, dtype=np.float64), np.asarray([mean_llr(t) for t in tots], dtype=np.float64),
            np.asarray(tops, dtype=np.float64), np.asarray([f.prior for f in self.families], dtype=np.float64),
            c0, c_llr, c_top, self.cal.rho)
        if not len(sp_i):
            return None
        lens = nids[o_c]
        ifirst = np.zeros(len(o_c) + 1, dtype=np.int64)
        np.cumsum(lens, out=ifirst[1:])
        iflat = ids_flat[np.repeat(ids[o_c] - ifirst[:-1], lens) + np.arange(int(ifirst[-1]))]
        return _Candidates(sp_i, sp_j, first, bonus, ohash[o_c], store.khash[sp_key], ifirst, iflat,
                           sp_key, sp_f, sp_pi, o_c, att, midcap, index, store,
                           (sp_i.tolist(), sp_j.tolist(), sp_key.tolist(), o_c.tolist()))

    def _consistent(self, nid: np.ndarray, cands: "_Candidates", chosen: list) -> list:
        """A spinner rewrites a form the same way throughout an article, title and body alike: where one
        occurrence of a spun form is restored with posterior >= ``CONSISTENT_MIN``, the occurrences the
        decision kept get the same option too, unless their own context speaks against it (their window's
        n-gram gain, nats, is added to the restored occurrence's log-odds). ``nid``: the article's word
        ids; ``cands``: the article's candidate spans; ``chosen``: (span, option, posterior, posterior of
        keeping, gain) of the decision. Returns ``chosen`` extended, ordered by start."""
        sp_i, sp_j, sp_key, _ = cands.py
        keys = self._index.keys
        top: dict[tuple[str, ...], tuple[int, float]] = {}  # spun form -> (option, posterior)
        for s, o, p, _, _ in chosen:
            if p >= CONSISTENT_MIN and p > top.get(keys[sp_key[s]], (-1, 0.0))[1]:
                top[keys[sp_key[s]]] = (o, p)
        if not top:
            return chosen
        best = {key: (cands.surface(o), p) for key, (o, p) in top.items()}  # spun form -> (restored surface, posterior)
        taken = [False] * (len(nid) + 1)  # tokens an edit covers
        for s, *_ in chosen:
            taken[sp_i[s] : sp_j[s]] = [True] * (sp_j[s] - sp_i[s])
        extra: list[tuple[int, int, float]] = []
        flat: list[int] = []
        lens: list[int] = []
        starts: list[int] = []
        # the spans of those forms (the spun form's hash first: most spans have none of them)
        hashes = set(map(hash, best))
        for s in [s for s, h in enumerate(cands.khash.tolist()) if h in hashes]:
            i, j = sp_i[s], sp_j[s]
            b = best.get(keys[sp_key[s]])
            if b is None or True in taken[i:j]:
                continue
            o = cands.find(s, b[0])
            if o < 0:
                continue
            left, right = nid[max(0, i - 2) : i].tolist(), nid[j : j + 2].tolist()
            ids = cands.iflat[cands.ifirst[o] : cands.ifirst[o + 1]].tolist()
            flat += [*left, *nid[i:j].tolist(), *right, *left, *ids, *right]
            lens += [len(left) + j - i + len(right), len(left) + len(ids) + len(right)]
            starts += [len(left), len(left)]
            extra.append((s, o, b[1]))
        if not extra:
            return chosen
        scores = self.model.score_flat(np.asarray(flat, dtype=np.int64), np.asarray(lens, dtype=np.int64),
                                       np.asarray(starts, dtype=np.int64)).tolist()
        lmw = self.cal.lm_weight * LN10
        out = list(chosen)
        for k, (s, o, p_other) in enumerate(extra):
            i, j = sp_i[s], sp_j[s]
            gain = (scores[2 * k + 1] - scores[2 * k]) * lmw
            p = sigmoid(_logit(p_other) + gain)
            if p >= 0.5 and True not in taken[i:j]:
                out.append((s, o, p, 1.0 - p, gain))
                taken[i:j] = [True] * (j - i)
        out.sort(key=lambda t: sp_i[t[0]])
        return out


class _Candidates(NamedTuple):
    """An article's candidate spans and options as arrays (``candidates._options``, ready for
    ``Decider.decide_arrays``).
    Per span: ``i``, ``j``, option range ``first[s]:first[s + 1]``, ``khash``, ``key`` (form id of its spun
    form), ``f`` (form id with the most candidates), ``pi``; per option: ``bonus``, ``hash``, ids
    ``iflat[ifirst[o]:ifirst[o + 1]]``, ``c`` (store entry), ``att`` (restored name attested); ``midcap``
    per token. Only the proposed edits look up their originals' records (``surface``, ``kind``)."""

    i: np.ndarray
    j: np.ndarray
    first: np.ndarray
    bonus: np.ndarray
    hash: np.ndarray
    khash: np.ndarray
    ifirst: np.ndarray
    iflat: np.ndarray
    key: np.ndarray
    f: np.ndarray
    pi: np.ndarray
    c: np.ndarray
    att: np.ndarray
    midcap: list
    index: Any
    store: Any
    py: tuple  # i, j, key and c as lists, for the loops over chosen spans

    def surface(self, o: int) -> str:
        """The original that option ``o`` (flat index) restores, as the table writes it."""
        return self.store.originals[self.py[3][o]]

    def kind(self, o: int) -> str:
        """The table kind of option ``o`` ("word", "phrase", "name", ...)."""
        return self.store.kinds[self.py[3][o]]

    def facts(self, s: np.ndarray, o: np.ndarray) -> np.ndarray:
        """Prior facts of options ``o`` of spans ``s`` (arrays of equal length) for the confidence model, one
        row each: the family probability, the original's corpus count, the spun form's corpus count, the spun
        form is an original, the pair's weight, capitalised mid-sentence, is a name, multiword, the number of
        candidates of the form, the restored name is attested. Returns float64 (len(s) x 10)."""
        st = self.store
        w, c_o, _, name, _, _, nids, _, _ = st.arrays()
        c, f = self.c[o], self.f[s]
        multiword = (self.j[s] - self.i[s] > 1) | (nids[c] > 1)
        return np.stack([self.pi[s], c_o[c], st.count[f], st.orig[f], w[c], np.asarray(self.midcap)[self.i[s]],
                         name[c], multiword, st.ncand[st.form_of(c)], self.att[o]], axis=1).astype(np.float64)

    def find(self, s: int, surface: str) -> int:
        """The option (flat index) of span ``s`` that restores ``surface``, or -1."""
        for o in range(int(self.first[s]), int(self.first[s + 1])):
            if self.surface(o) == surface:
                return o
        return -1


def compile_kernels() -> None:
    """Compile the restorer's numba kernels (form scan, option priors, n-gram lookups, joint decision) now, or
    load them from numba's on-disk cache (``__pycache__`` beside the modules, else the user's cache folder).
    The first compilation takes about 30 s of CPU; set-up runs it so that a worker or test does not pay it at
    its first article."""
    import threading  # noqa: PLC0415

    # loading from the cache takes well under a second; anything longer is a compilation
    notice = threading.Timer(2.0, log.warning, ("compiling the restorer's kernels; about 30 s, once (cached for "
                                                "later runs, see NUMBA_CACHE_DIR)",))
    notice.daemon = True
    notice.start()
    try:
        _exercise_kernels()
    finally:
        notice.cancel()


def _exercise_kernels() -> None:
    from workers.restoration import ngram  # noqa: PLC0415

    m = _NullModel()
    r = Restorer(families=[Family("kernels", build_table([Entry("said", ("mentioned",), "VERB", "word")]))], model=m)
    text = "It mentioned"
    toks, locked = r._tokens(text, [])
    n = toks.norm
    entries = r._index.scan(r._index.token_ids(n), locked)
    r._store.ensure(entries[2])
    r._options(text, toks, np.asarray(m.ids(n, True), dtype=np.int64), entries[:4], [[0.0] * 5], [0.0], [0.0])
    opts = [Option((w,), w, "word", 0.0, ids=(0,)) for w in ("b", "c")]
    spans = [Span(0, 1, ("a",), opts), Span(1, 3, ("a", "a"), opts), Span(2, 3, ("a",), opts)]
    Decider(m, 1.0).decide([0, 0, 0, 0], spans)
    ngram._count(m._tables, np.zeros(3, dtype=np.int64))
    m.logprob(["a", "b"])
    m.score_flat(np.zeros(2, dtype=np.int64), np.array([2]), np.array([1]))


@lru_cache(maxsize=1)
def default_restorer() -> Restorer:
    """The process-wide restorer with the shipped table, model and calibration (loaded once)."""
    return Restorer()
