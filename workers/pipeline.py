"""Article dict in, enriched event dict out: restoration and NER together, no Kafka.

The stream agents and ``unspun restore`` both call ``Enricher.enrich_many``, so a file restored on
the command line gives the same event the stream emits (but for timestamps and latencies).
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any, Callable, Sequence

from workers import __version__
from workers.articles import Rejected
from workers.language import detect_language
from workers.restoration import Edit, OffsetMap, Restoration, apply_edits
from workers.settings import Settings, get_settings
from workers.timestamps import utc_iso

log = logging.getLogger(__name__)

EVENT_SCHEMA = "unspun.enriched.v1"
_TITLE_GAP = "\n\n"  # title and text are restored as one document so the title shares its evidence


def _split_edits(edits: Sequence[Edit], title_len: int) -> tuple[list[Edit], list[Edit]]:
    """Edits of "title + gap + text" split into title edits and text edits (text offsets rebased)."""
    offset = title_len + len(_TITLE_GAP)
    title_edits = [e for e in edits if e.end <= title_len]
    text_edits = [
        Edit(e.start - offset, e.end - offset, e.original, e.restored, e.confidence, e.kind)
        for e in edits
        if e.start >= offset
    ]
    return title_edits, text_edits


def _language(article: dict[str, Any]) -> tuple[str, float]:
    """The language of ``article["text"]`` (``"en"`` when it is no string: restoring it fails and says why)
    and the milliseconds it took to identify."""
    t0 = time.perf_counter()
    text = article.get("text")
    language = detect_language(text) if isinstance(text, str) else "en"
    return language, (time.perf_counter() - t0) * 1000


class Enricher:
    """Loads the restorer and the NER model once, then enriches articles in batches.

    ``enrich_many(articles)`` takes article dicts as made by ``workers.articles.normalise_article``
    and returns, per article and in order, an enriched event dict (schema ``enriched.v1``) or a
    ``Rejected`` (kind ``processing_error`` or ``not_english``); one bad article never fails the rest.
    """

    def __init__(self, settings: Settings | None = None, *, restorer=None, extractor=None):
        """Load (or take) the restorer and the NER extractor, then warm both up.

        ``settings``: defaults to the process settings; ``restore_threshold`` and ``spacy_model``
        are used. Raises ``OSError`` when the spaCy model package is not installed.
        """
        self.settings = settings or get_settings()
        if restorer is None:
            from workers.restoration import Restorer, default_restorer
            from workers.restoration.families import shipped_families
            from workers.restoration.restorer import DEFAULT_THRESHOLD
            from workers.restoration.table import split_paths

            s = self.settings
            if s.extra_tables or s.cache_dir or s.restore_threshold != DEFAULT_THRESHOLD:
                # build only this restorer: the default one would load every family a second time
                families = shipped_families(split_paths(s.extra_tables), s.cache_dir or None)
                restorer = Restorer(families=families, threshold=s.restore_threshold)
            else:
                restorer = default_restorer()
        if extractor is None:
            from workers.entities import EntityExtractor

            # Chunks of at most 100,000 characters bound NER memory on very long articles.
            extractor = EntityExtractor(self.settings.spacy_model, batch_size=self.settings.batch_size, max_length=100_000)
        self.restorer = restorer
        self.extractor = extractor
        names = {"table": "spinner_table", "model": "ngram_model", "threshold": "restore_threshold"}
        self.versions = {"unspun": __version__, "spacy_model": str(extractor.version), "spinner_table": "unknown"}
        self.versions.update({names.get(k, k): str(v) for k, v in getattr(restorer, "version", {}).items()})
        # Warm-up, so the first article's latency is its own and not the loading of models.
        from workers.restoration.restorer import compile_kernels

        compile_kernels()  # says so when it has to compile (no cache)
        detect_language("warm up the language identifier with a sentence long enough to be classified")
        self.restorer.restore("The corporate mentioned it.")
        self.extractor.extract_many(["Warm-up sentence about Portland."])
        # Tables, caches and models live as long as the process: taking them out of the cyclic garbage
        # collector's generations saves it walking them at every full collection (a tenth of the
        # restorer's time on spun articles, measured with bench/library.py), and forked backfill
        # workers from copying their pages. Garbage of the loading is collected first, not kept.
        gc.collect()
        gc.freeze()
        self.ready = True

    def update_family(self, name: str, entries: list) -> int:
        """Give the restorer's spinner family ``name`` these table entries (``workers.restoration.table.Entry``),
        replacing what it had; articles restored afterwards use them. Returns the number of entries."""
        self.restorer.update_family(name, entries)
        return len(entries)

    def _restore_joined(self, joined: str, article: dict[str, Any]) -> Restoration:
        """The restoration of "title + gap + text"; for an article the stream linked to an earlier one
        (``article["_link"]``, see ``workers.stream.linking``), restoration from that article when it is
        the source, and the link itself recorded on the article for the event."""
        link = article.get("_link")
        if not link:
            return self.restorer.restore(joined)
        from workers.linking.align import align, copy_evidence, source_edits, unaligned_edits  # noqa: PLC0415
        from workers.linking.learn import observations  # noqa: PLC0415

        other = f"{link['title']}{_TITLE_GAP}{link['text']}" if link.get("title") else link["text"]
        alignment = align(joined, other)
        if copy_evidence(alignment, self.restorer.model.count) >= 0:  # this article is the spun copy
            fallback = unaligned_edits(joined, alignment, lambda t: self.restorer.restore(t).edits)
            edits = source_edits(alignment, fallback, self.restorer.threshold)
            article["_copy_of"] = {"id": link["id"], "similarity": round(link["similarity"], 4), "method": link["method"]}
            article["_learned"] = [o._asdict() for o in observations(alignment.substitutions, article["id"])]
            spin = 1.0 if alignment.substitutions else 0.0
            return Restoration(apply_edits(joined, edits), edits, spin)
        # The earlier article is the spun copy of this one.
        back = align(other, joined)
        article["_links"] = [{"copy": link["id"], "source": article["id"], "similarity": round(link["similarity"], 4), "method": link["method"]}]
        article["_learned"] = [o._asdict() for o in observations(back.substitutions, link["id"])]
        return self.restorer.restore(joined)

    def _restore(self, article: dict[str, Any]) -> tuple[Restoration, list[Edit], list[Edit], str, str]:
        title = article.get("title") or ""
        joined = f"{title}{_TITLE_GAP}{article['text']}" if title else article["text"]
        result = self._restore_joined(joined, article)
        if not title:
            return result, [], list(result.edits), "", result.text
        title_edits, text_edits = _split_edits(result.edits, len(title))
        return result, title_edits, text_edits, apply_edits(title, title_edits), apply_edits(article["text"], text_edits)

    def enrich_many(
        self,
        articles: Sequence[dict[str, Any]],
        received_at: Sequence[float] | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> list[dict | Rejected]:
        """Enrich a batch; see the class docstring. ``received_at``: per article, seconds since the epoch.

        ``progress(stage, index)``, when given, is called as each stage starts: ``("restore", i)``
        before article ``i`` is restored, ``("ner", n)`` before the entity extraction of the ``n`` restored articles
        (the stream's per-article time budget watches these; see ``workers.stream.isolation``).
        """
        received_at = list(received_at) if received_at is not None else [time.time()] * len(articles)
        results: list[dict | Rejected | None] = [None] * len(articles)
        pending: list[tuple[int, dict, str]] = []  # (index, partial event, restored text) awaiting NER
        # The batch's languages first: run one after the other, the identifier's tables stay in the CPU's
        # caches (interleaved with restoration it took twice as long). (language, ms) per article.
        languages = [_language(a) for a in articles]
        for i, article in enumerate(articles):
            if progress is not None:
                progress("restore", i)
            try:
                event = self._restore_one(article, received_at[i], *languages[i])
            except Rejected as r:
                results[i] = r
            except Exception as e:  # a poison article must not stop the batch
                log.exception("restoration failed for article %s", article.get("id"))
                results[i] = Rejected("processing_error", f"restoration failed: {type(e).__name__}: {e}", article.get("id"), type(e).__name__)
            else:
                pending.append((i, event, event["restored_text"]))
        if progress is not None:
            progress("ner", len(pending))
        self._add_entities(pending, results)
        return results  # type: ignore[return-value]

    def _restore_one(self, article: dict[str, Any], received: float, language: str, language_ms: float) -> dict[str, Any]:
        t0 = time.perf_counter()
        if language != "en":
            if self.settings.non_english_policy == "reject":
                raise Rejected("not_english", f"text is in language '{language}', not English (UNSPUN_NON_ENGLISH_POLICY=reject)", article["id"])
            title = article.get("title")
            restored_title, title_edits, text_edits, restored_text, spin = title, [], [], article["text"], 0.0
            spinner = {"family": None, "confidence": 0.0}
        else:
            result, title_edits, text_edits, restored_title, restored_text = self._restore(article)
            spin = float(result.spin_score)
            spinner = {"family": result.family, "confidence": round(float(result.family_confidence), 4)}
            title = article.get("title")
            if title is None:
                restored_title = None
        restore_ms = (time.perf_counter() - t0) * 1000 + language_ms
        return {
            "schema": EVENT_SCHEMA,
            "id": article["id"],
            "title": title,
            "restored_title": restored_title,
            "text": article["text"],
            "restored_text": restored_text,
            "edits": [e.to_dict() for e in text_edits],
            "title_edits": [e.to_dict() for e in title_edits],
            "spin_score": round(min(1.0, max(0.0, spin)), 4),
            "spinner": spinner,
            "language": language,
            "entities": [],
            "entity_summary": [],
            "url": article.get("url"),
            "source": article.get("source"),
            "published_at": article.get("published_at"),
            "latency_ms": {"restore": round(restore_ms, 3), "ner": 0.0, "total": 0.0},
            "received_at": utc_iso(received),
            "emitted_at": "",
            "versions": self.versions,
            "meta": article.get("meta") or {},
            "html_stripped": bool(article.get("html_stripped")),
            **({"copy_of": article["_copy_of"]} if article.get("_copy_of") else {}),
            **{k: article[k] for k in ("_links", "_learned") if k in article},
            "_received": received,
            "_edits": text_edits,
        }

    def _add_entities(self, pending: list[tuple[int, dict, str]], results: list) -> None:
        from workers.entities import locate, summarise

        english = [(i, ev, t) for i, ev, t in pending if ev["language"] == "en"]
        t0 = time.perf_counter()
        try:
            mentions_per_text = self.extractor.extract_many([t for _, _, t in english])
        except Exception:  # find the poison article: run them one by one
            log.exception("batch NER failed; retrying article by article")
            mentions_per_text = []
            for i, ev, t in english:
                try:
                    mentions_per_text.append(self.extractor.extract_many([t])[0])
                except Exception as e:
                    mentions_per_text.append(e)
        ner_ms = (time.perf_counter() - t0) * 1000
        total_chars = sum(len(t) for _, _, t in english) or 1
        by_index = {i: m for (i, _, _), m in zip(english, mentions_per_text)}
        for i, ev, t in pending:
            mentions = by_index.get(i, [])
            if isinstance(mentions, Exception):
                e = mentions
                results[i] = Rejected("processing_error", f"entity extraction failed: {type(e).__name__}: {e}", ev["id"], type(e).__name__)
                continue
            try:
                located = locate(mentions, OffsetMap(ev.pop("_edits")), ev["text"])
                ev["entities"] = [m.to_dict() for m in located]
                ev["entity_summary"] = summarise(located)
            except Exception as e:
                log.exception("entity mapping failed for article %s", ev["id"])
                results[i] = Rejected("processing_error", f"entity mapping failed: {type(e).__name__}: {e}", ev["id"], type(e).__name__)
                continue
            # Batch NER time is shared out by text length: the per-article cost it stands for.
            ev["latency_ms"]["ner"] = round(ner_ms * len(t) / total_chars, 3) if i in by_index else 0.0
            received = ev.pop("_received")
            now = time.time()
            ev["latency_ms"]["total"] = round(max(0.0, (now - received) * 1000), 3)
            ev["emitted_at"] = utc_iso(now)
            results[i] = ev
