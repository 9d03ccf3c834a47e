"""Evaluation of unspun: benchmarks run by ``unspun eval`` (see ``restoration.py``)."""
