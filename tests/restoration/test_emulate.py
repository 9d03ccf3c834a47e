import random

from workers.restoration.emulate import spin

ORIGINAL = (
    "The company said it would hire hundreds of new drivers this year. Chief executive Dana Whitfield "
    "said the company still expected revenue to increase. Analysts at the Bank of Portland said prices "
    "were higher than expected, and thousands of investors came to the meeting. Fuel prices rose 12 percent."
)


def test_spin_records_spans(mini_table):
    spun, spans = spin(ORIGINAL, rate=1.0, rng=random.Random(3), table=mini_table)
    assert spans and spun != ORIGINAL
    for s in spans:
        assert spun[s.start : s.end] == s.substitute
        assert s.original.lower() != s.substitute.lower()


def test_spin_is_reproducible_and_rate_zero_is_identity(mini_table):
    a = spin(ORIGINAL, rate=0.5, rng=random.Random(1), table=mini_table)
    b = spin(ORIGINAL, rate=0.5, rng=random.Random(1), table=mini_table)
    assert a == b
    assert spin(ORIGINAL, rate=0.0, rng=random.Random(1), table=mini_table) == (ORIGINAL, [])


def test_spin_copies_capitalisation(mini_table):
    spun, spans = spin("Said the man. COMPANY NEWS.", rate=1.0, rng=random.Random(0), table=mini_table)
    assert spans[0].substitute[0].isupper()
    assert spans[-1].substitute.isupper()


def test_round_trip_restores_most_spans(mini_table, restorer):
    spun, spans = spin(ORIGINAL, rate=1.0, rng=random.Random(5), table=mini_table)
    r = restorer.restore(spun)
    exact = sum(any(e.start == s.start and e.end == s.end and e.restored == s.original for e in r.edits) for s in spans)
    assert exact >= 0.5 * len(spans)  # the benchmark measures the real rate; this is a sanity check
    wrong = [e for e in r.edits if not any(e.start == s.start and e.end == s.end for s in spans)]
    assert len(wrong) <= 1
