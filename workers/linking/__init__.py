"""Linking spun copies to their sources: a pure library (no Kafka).

- ``fingerprint``: MinHash/LSH fingerprints of the tokens spinners leave alone;
- ``index``: an LSH index of a retention window with bounded memory;
- ``align``: word alignment of a copy to its source, edits restoring it, which side is spun;
- ``learn``: substitutions counted over distinct articles, exported as spinner-table entries.
"""
