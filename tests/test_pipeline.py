"""The library path: article dicts in, enriched events out, with the real restorer and spaCy model."""

import json
from pathlib import Path

import pytest

from workers.articles import Rejected, normalise_article
from workers.pipeline import Enricher
from workers.restoration import Edit, apply_edits
from workers.schemas import first_error
from workers.settings import Settings

SAMPLES = Path(__file__).resolve().parents[1] / "workers" / "samples"


@pytest.fixture(scope="module")
def enricher():
    return Enricher(Settings())


def sample(name: str) -> dict:
    return normalise_article(json.loads((SAMPLES / name).read_text()), Settings())


def test_spun_sample_is_restored_and_valid(enricher):
    [event] = enricher.enrich_many([sample("01-port.json")])
    assert first_error("enriched.v1", event) is None
    restored = event["restored_text"]
    assert "mentioned" not in restored and "said" in restored
    assert "1000's" not in restored and "Thousands" in restored
    assert event["spin_score"] > 0.9
    assert apply_edits(event["text"], [Edit(**e) for e in event["edits"]]) == restored
    for e in event["edits"]:
        assert event["text"][e["start"]:e["end"]] == e["original"]
    assert {"restore", "ner", "total"} <= event["latency_ms"].keys()


def test_title_is_restored_with_the_article(enricher):
    [event] = enricher.enrich_many([sample("02-school.json")])
    assert event["title"].startswith("College district")
    assert event["restored_title"].startswith("School district")
    assert apply_edits(event["title"], [Edit(**e) for e in event["title_edits"]]) == event["restored_title"]


def test_clean_sample_is_untouched(enricher):
    [event] = enricher.enrich_many([sample("04-clean.json")])
    assert event["edits"] == [] and event["title_edits"] == []
    assert event["restored_text"] == event["text"]
    assert event["spin_score"] < 0.5
    assert event["spinner"] == {"family": None, "confidence": event["spinner"]["confidence"]}


def test_spun_sample_names_its_spinner_family(enricher):
    [event] = enricher.enrich_many([sample("01-port.json")])
    assert event["spinner"]["family"] == "news"
    assert event["spinner"]["confidence"] > 0.5


def test_entities_have_offsets_into_both_texts(enricher):
    [event] = enricher.enrich_many([sample("01-port.json")])
    people = {m["text"] for m in event["entities"] if m["label"] == "PERSON"}
    assert "Marisol Vega" in people
    for m in event["entities"]:
        assert event["restored_text"][m["start"]:m["end"]] == m["text"]
        assert 0 <= m["source_start"] <= m["source_end"] <= len(event["text"])
    assert event["entity_summary"], "distinct entities are summarised"


def test_non_english_passes_through_or_is_rejected_per_policy():
    text = "Die Aktien des Unternehmens fielen am Donnerstag um zwölf Prozent, nachdem die Firma eine Gewinnwarnung veröffentlicht hatte."
    article = normalise_article({"id": "de-1", "text": text}, Settings())
    [event] = Enricher(Settings(non_english_policy="pass")).enrich_many([article])
    assert event["language"] == "de" and event["restored_text"] == text and event["edits"] == []
    [rejected] = Enricher(Settings(non_english_policy="reject")).enrich_many([article])
    assert isinstance(rejected, Rejected) and rejected.kind == "not_english"


def test_a_poison_article_becomes_a_processing_error_and_the_rest_go_on(enricher, monkeypatch):
    # The failure is injected inside the real restorer, so it must travel through Restorer.restore.
    import workers.restoration.restorer as restorer_module

    real = restorer_module.find_spintax

    def failing(text):
        if "POISON" in text:
            raise RuntimeError("injected failure")
        return real(text)

    monkeypatch.setattr(restorer_module, "find_spintax", failing)
    articles = [sample("01-port.json"), normalise_article({"id": "p", "text": "POISON pill"}, Settings()), sample("04-clean.json")]
    first, bad, last = enricher.enrich_many(articles)
    assert isinstance(bad, Rejected) and bad.kind == "processing_error"
    assert bad.error_class == "RuntimeError" and "injected failure" in bad.reason
    assert first["id"] == "sample-01" and last["id"] == "sample-04"


def test_output_is_deterministic_for_redelivered_articles(enricher):
    a, b = enricher.enrich_many([sample("03-bridge.json"), sample("03-bridge.json")])
    strip = lambda ev: {k: v for k, v in ev.items() if k not in ("latency_ms", "received_at", "emitted_at")}
    assert strip(a) == strip(b)


def test_versions_name_the_table_model_and_threshold(enricher):
    [event] = enricher.enrich_many([sample("04-clean.json")])
    versions = event["versions"]
    families = enricher.restorer.families
    assert versions["spinner_table"] == "+".join(f"{f.name}:{f.table.version}" for f in families)
    assert families[0].name == "news" and families[0].table.version
    assert versions["spacy_model"].startswith("en_core_web_sm")
    assert versions["restore_threshold"] == "0.7"


def test_the_restore_threshold_setting_reaches_the_restorer():
    strict = Enricher(Settings(restore_threshold=0.99))
    loose = Enricher(Settings(restore_threshold=0.5))
    article = sample("02-school.json")
    [s], [l] = strict.enrich_many([article]), loose.enrich_many([article])
    assert strict.restorer.threshold == 0.99
    assert all(e["confidence"] >= 0.99 for e in s["edits"])
    assert len(s["edits"]) < len(l["edits"])


def test_stripped_html_is_flagged_in_the_event(enricher):
    article = normalise_article({"id": "h", "text": "<p>The mayor spoke on Monday.</p><p>Then she left.</p>"}, Settings())
    [event] = enricher.enrich_many([article])
    assert event["html_stripped"] is True and event["text"] == "The mayor spoke on Monday.\nThen she left."
    assert first_error("enriched.v1", event) is None


def test_a_user_table_from_the_settings_is_used(tmp_path):
    # "zorbified" is in no shipped entry; a user's table teaches it.
    (tmp_path / "word_mine.tsv").write_text("announce\tzorbify\tVERB\n", encoding="utf-8")
    text = "The corporate mentioned 1000's of jobs were cut. The mayor zorbified a plan on Monday and officers mentioned it."
    article = normalise_article({"id": "x", "text": text}, Settings())
    [plain] = Enricher(Settings()).enrich_many([article])
    [mine] = Enricher(Settings(extra_tables=str(tmp_path), cache_dir=str(tmp_path / "cache"))).enrich_many([article])
    assert "zorbified" in plain["restored_text"]
    assert "announced" in mine["restored_text"]
    assert mine["versions"]["spinner_table"] != plain["versions"]["spinner_table"]
