"""Canonical names, gazetteer ids and the per-article summary."""

import pytest

from workers.entities import Mention, summarise
from workers.entities.canonical import canonicalise, resolve_place


@pytest.mark.parametrize(
    "name", ["U.S.", "US", "USA", "the United States", "United States of America", "America", "the U.S.", "United States"]
)
def test_us_variants_resolve_to_one_country(name):
    assert resolve_place(name, "GPE") == ("United States", "iso3166:US")


def test_places():
    assert resolve_place("Portland") == ("Portland", "geonames:5746545")
    assert resolve_place("Oregon")[1].startswith("geonames:")
    assert resolve_place("Britain") == ("United Kingdom", "iso3166:GB")
    assert resolve_place("Russia\u2019s") == ("Russia", "iso3166:RU")
    assert resolve_place("us") is None
    assert resolve_place("Xyzzyville") is None
    assert resolve_place("Portland", "ORG") is None


def m(text, label, start):
    return Mention(text, label, start, start + len(text), start, start + len(text))


def test_person_surname_joins_earlier_full_name_and_org_strips_the():
    ms = canonicalise([
        m("Dana Whitfield", "PERSON", 0),
        m("the Bank of Portland", "ORG", 20),
        m("Whitfield", "PERSON", 50),
        m("Ms. Whitfield", "PERSON", 70),
        m("Robert\u00a0Smith", "PERSON", 90),
        m("Smith", "PERSON", 110),
        m("Harbor Logistics", "ORG", 120),
    ])
    assert [x.canonical for x in ms] == [
        "Dana Whitfield", "Bank of Portland", "Dana Whitfield", "Dana Whitfield", "Robert Smith", "Robert Smith",
        "Harbor Logistics",
    ]


def test_summary_counts_and_ids():
    ms = [
        m("U.S.", "GPE", 0), m("Dana Whitfield", "PERSON", 10), m("the United States", "GPE", 30),
        m("Whitfield", "PERSON", 60), m("Portland", "GPE", 70), m("America", "GPE", 80),
        m("the Federal Reserve", "ORG", 90), m("Federal Reserve", "ORG", 120), m("Whitfield", "PERSON", 140),
    ]
    summary = summarise(ms)
    by_name = {e["canonical"]: e for e in summary}
    us = by_name["United States"]
    assert us == {
        "canonical": "United States", "label": "GPE", "mentions": 3,
        "surface_forms": ["U.S.", "the United States", "America"], "id": "iso3166:US",
    }
    assert by_name["Dana Whitfield"]["mentions"] == 3 and by_name["Dana Whitfield"]["id"] is None
    assert by_name["Federal Reserve"]["mentions"] == 2
    assert by_name["Portland"]["id"] == "geonames:5746545"
    assert [e["mentions"] for e in summary] == sorted((e["mentions"] for e in summary), reverse=True)
    assert summarise([]) == []


def test_summary_from_extractor(extractor):
    text = (
        "Chief executive Dana Whitfield said on Monday that the company would expand in the United States. "
        "Whitfield told analysts at the Bank of Portland that U.S. demand was strong."
    )
    ms = extractor.extract(text)
    summary = summarise(ms)
    us = [e for e in summary if e["id"] == "iso3166:US"]
    assert len(us) == 1 and us[0]["mentions"] == 2
    dana = [e for e in summary if e["canonical"] == "Dana Whitfield"]
    assert dana and dana[0]["mentions"] == 2
