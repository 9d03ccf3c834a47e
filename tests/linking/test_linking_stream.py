"""Linking on the real broker with real worker processes: sources and their spun copies in both
orders and with delays, different articles on the same topics and unrelated ones; links in events
and on the links topic, copies restored from their source, learned substitutions taken up by the
running restorer, and a restarted worker that rebuilds its index from Kafka.

The copies are spun by the test dictionary (tests/linking/data/groups.txt), which the restorer's
table does not hold.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SAMPLES = Path(__file__).resolve().parents[2] / "workers" / "samples"
# Spun by the test dictionary; its source is never sent. Its spun words are pairs the copies above
# use in at least two articles (officials -> bureaucrats, new -> novel, cost -> set back, ...).
UNLINKED = {
    "id": "unlinked-copy",
    "title": "Bridge closure",
    "text": (
        "Town bureaucrats tipped off residents on Monday that the novel bridge would set back the county 4 "
        "million dollars. Many souls who toil in the city said they had gotten no letter about the closure."
    ),
}
LATE = {
    "id": "orig-ferry",
    "title": "Ferry service to Hollis Island resumes",
    "text": (
        "The ferry between Portview and Hollis Island returned to service on Wednesday after three weeks of "
        "repairs to its engine. The operator said that crossings would run every two hours and that tickets "
        "bought for cancelled trips would be honoured until the end of June. Residents of the island, who "
        "depend on the ferry for food and medicine, said the long wait had been hard on older people."
    ),
}
LEARNED = {"bureaucrats": "officials", "tipped off": "warned", "novel": "new", "set back": "cost", "souls": "people"}
# Substitutions the six copies share pairwise (so learned with UNSPUN_LEARN_MIN_ARTICLES=2): the five
# above and extended -> longer, gotten -> received, toil -> work.
N_LEARNED = 8


def _value(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _metric(kit, port: int, name: str) -> float:
    return _value(kit.http_get(port, "/metrics")[1], name)


def _messages(articles):
    return [(a["id"].encode(), json.dumps({k: a[k] for k in ("id", "title", "text")}).encode()) for a in articles]


def _split_partitions(kit, workers, timeout_s: float = 90.0) -> list[list[int]]:
    """Wait until each worker is ready with input partitions of its own; return them per worker."""
    deadline = time.monotonic() + timeout_s
    while True:
        bodies = []
        for w in workers:
            try:
                status, body = kit.http_get(w.metrics_port, "/ready")
            except OSError:  # not listening yet
                status, body = 0, ""
            bodies.append(json.loads(body) if status == 200 else {})
        parts = [b.get("partitions") or [] for b in bodies]
        if all(parts) and not set(parts[0]) & set(parts[1]):
            return parts
        assert time.monotonic() < deadline, f"workers did not split the partitions: {bodies}"
        time.sleep(0.3)


def _events(kit, settings, ids):
    records = kit.consume(settings, [settings.enriched_topic], keys={i.encode() for i in ids}, settle_s=0.2)
    return {r.key.decode(): r.json for r in records}


@pytest.fixture(scope="module")
def run(broker, kit, tmp_path_factory, originals, same_topic, spun_copy):
    """Two workers in turn on one set of topics; everything they emitted."""
    env = kit.stream_env(broker, UNSPUN_LINKING="true", UNSPUN_LEARN_MIN_ARTICLES="2")
    base = env["UNSPUN_INPUT_TOPIC"]
    env.update(UNSPUN_FINGERPRINTS_TOPIC=f"{base}.fingerprints", UNSPUN_LINKS_TOPIC=f"{base}.links", UNSPUN_LEARNED_TOPIC=f"{base}.learned")
    logs = tmp_path_factory.mktemp("linking")
    unrelated = [json.loads(p.read_text()) for p in sorted(SAMPLES.glob("*.json"))]
    first, later = originals[:3], originals[3:]
    copies_after = [spun_copy(a, n) for n, a in enumerate(first)]
    copies_before = [spun_copy(a, 10 + n) for n, a in enumerate(later)]
    out: dict = {"env": env, "copies_after": copies_after, "copies_before": copies_before, "unrelated": unrelated}
    worker = kit.launch_worker(env, logs / "worker-a.log")
    settings = worker.settings
    try:
        worker.wait_ready()
        send = lambda arts: kit.produce(settings, settings.input_topic, _messages(arts))  # noqa: E731
        events = {}
        # Sources first, then (after their events are out) their copies.
        send(first + same_topic + unrelated)
        events.update(_events(kit, settings, [a["id"] for a in first + same_topic + unrelated]))
        send(copies_after)
        events.update(_events(kit, settings, [c["id"] for c in copies_after]))
        # Copies first, then their sources.
        send(copies_before)
        events.update(_events(kit, settings, [c["id"] for c in copies_before]))
        send(later)
        events.update(_events(kit, settings, [a["id"] for a in later]))
        out["links"] = kit.consume(settings, [settings.links_topic], keys={c["id"].encode() for c in copies_before}, settle_s=0.5)
        deadline = time.monotonic() + 30
        while _metric(kit, worker.metrics_port, "unspun_learned_pairs_in_use") < N_LEARNED and time.monotonic() < deadline:
            time.sleep(0.2)
        send([UNLINKED])
        events.update(_events(kit, settings, [UNLINKED["id"]]))
        out["metrics_a"] = kit.http_get(worker.metrics_port, "/metrics")[1]
        out["events"] = events
        out["fingerprints"] = kit.consume(settings, [settings.fingerprints_topic], expected=len(events), settle_s=0.2)
        out["learned"] = kit.consume(settings, [settings.learned_topic], expected=1, settle_s=0.2)
    finally:
        worker.stop()
    # Two restarted workers rebuild their index and learned pairs from Kafka, and link across each other.
    workers = [kit.launch_worker(env, logs / f"worker-b{i}.log") for i in range(2)]
    try:
        out["partitions"] = _split_partitions(kit, workers)
        again = dict(spun_copy(first[0], 99, rate=0.7), id="copy-after-restart")
        kit.produce(settings, settings.input_topic, _messages([again]))
        out["after_restart"] = _events(kit, settings, [again["id"]])[again["id"]]
        # A source taken by one worker, then its copy by the other.
        (p1,), (p2,) = out["partitions"]
        before = _metric(kit, workers[1].metrics_port, "unspun_link_index_articles")
        kit.produce(settings, settings.input_topic, _messages([LATE]), partition=p1)
        _events(kit, settings, [LATE["id"]])
        # The other worker indexes the source once its topic reader meets the fingerprint (see the
        # known limit in README: a copy taken before that is not linked).
        deadline = time.monotonic() + 30
        while _metric(kit, workers[1].metrics_port, "unspun_link_index_articles") <= before and time.monotonic() < deadline:
            time.sleep(0.1)
        late_copy = dict(spun_copy(LATE, 7), id="copy-late")
        kit.produce(settings, settings.input_topic, _messages([late_copy]), partition=p2)
        out["late_copy"] = _events(kit, settings, [late_copy["id"]])[late_copy["id"]]
        for w in workers:
            deadline = time.monotonic() + 30
            while _metric(kit, w.metrics_port, "unspun_learned_pairs_in_use") < N_LEARNED and time.monotonic() < deadline:
                time.sleep(0.2)
        out["metrics_b"] = [kit.http_get(w.metrics_port, "/metrics")[1] for w in workers]
    finally:
        for w in workers:
            w.stop()
    return out


def test_copy_seen_after_its_source_carries_copy_of_and_is_restored_from_it(run, originals, schema_validator):
    validator = schema_validator("enriched.v1")
    for copy, source in zip(run["copies_after"], originals[:3]):
        event = run["events"][copy["id"]]
        assert not list(validator.iter_errors(event))
        assert event["copy_of"]["id"] == source["id"] and event["copy_of"]["similarity"] >= 0.5
        assert event["copy_of"]["method"] == "minhash-immutables"
        assert event["restored_text"] == source["text"] and event["restored_title"] == source["title"]
        assert {e["kind"] for e in event["edits"]} == {"source"}
        assert len(event["edits"]) >= len([p for p in copy["pairs"]]) - 2


def test_source_seen_after_its_copy_gives_a_record_on_the_links_topic(run, originals, schema_validator):
    validator = schema_validator("link.v1")
    links = {r.key.decode(): r.json for r in run["links"]}
    assert set(links) == {c["id"] for c in run["copies_before"]}
    for copy, source in zip(run["copies_before"], originals[3:]):
        assert not list(validator.iter_errors(links[copy["id"]]))
        assert links[copy["id"]]["source"] == source["id"] and links[copy["id"]]["copy"] == copy["id"]
        assert "copy_of" not in run["events"][copy["id"]] and "copy_of" not in run["events"][source["id"]]


def test_different_articles_on_the_same_topic_and_unrelated_ones_are_not_linked(run, same_topic, originals):
    for a in same_topic + run["unrelated"] + originals:
        assert "copy_of" not in run["events"][a["id"]], a["id"]
    linked = {r.json["source"] for r in run["links"]} | {r.json["copy"] for r in run["links"]}
    assert not linked & {a["id"] for a in same_topic + run["unrelated"]}


def test_learned_pairs_reach_the_running_restorer(run):
    text = run["metrics_a"]
    assert _value(text, "unspun_learned_pairs") == _value(text, "unspun_learned_pairs_in_use") == N_LEARNED
    assert re.search(r'^unspun_links_total\{order="copy_after_source"\} 3\.0$', text, re.M)
    assert re.search(r'^unspun_links_total\{order="source_after_copy"\} 3\.0$', text, re.M)
    assert re.search(r'^unspun_restorations_total\{kind="source"\} [1-9]', text, re.M)


def test_a_later_copy_whose_source_is_never_sent_is_restored_with_learned_pairs(run):
    event = run["events"][UNLINKED["id"]]
    assert "copy_of" not in event
    learned = {e["original"].lower(): e["restored"] for e in event["edits"] if e["kind"] == "learned"}
    assert len(learned.items() & LEARNED.items()) >= 4, event["edits"]
    assert re.search(r'^unspun_restorations_total\{kind="learned"\} [1-9]', run["metrics_a"], re.M)


def test_restarted_workers_link_against_articles_indexed_before_the_restart(run, originals):
    assert run["after_restart"]["copy_of"]["id"] == originals[0]["id"]
    for text in run["metrics_b"]:
        assert _value(text, "unspun_link_index_articles") > len(run["events"])
        # Read back from the learned topic (the copy sent after the restart may add pairs of its own).
        assert _value(text, "unspun_learned_pairs_in_use") >= N_LEARNED


def test_a_copy_taken_by_one_worker_links_to_a_source_another_worker_took(run):
    assert run["late_copy"]["copy_of"]["id"] == LATE["id"]
    assert run["late_copy"]["restored_text"] == LATE["text"]


def test_fingerprint_and_learned_records_follow_their_schemas(run, schema_validator, originals):
    fingerprints = {r.key.decode(): r.json for r in run["fingerprints"]}
    assert set(fingerprints) == set(run["events"])  # one per enriched article
    for key, record in fingerprints.items():
        assert not list(schema_validator("fingerprint.v1").iter_errors(record)), key
    # A linked copy's record stands for its source, in the source's wording.
    copy = run["copies_after"][0]
    assert fingerprints[copy["id"]]["id"] == originals[0]["id"] and fingerprints[copy["id"]]["copy"] == copy["id"]
    assert fingerprints[copy["id"]]["text"] == originals[0]["text"]
    assert run["learned"]
    for r in run["learned"]:
        assert not list(schema_validator("learned.v1").iter_errors(r.json))
        assert r.key.decode() == f"{r.json['spun']}\t{r.json['original']}\t{r.json['article']}"


def test_table_export_writes_the_learned_pairs_in_table_format(run, kit, tmp_path):
    from workers.restoration.table import parse_lines

    out = tmp_path / "learned.tsv"
    done = kit.run_cli(run["env"], "table", "export", "--out", str(out), "--timeout", "2", timeout=60)
    assert done.returncode == 0, done.stderr
    entries, problems = parse_lines(out.read_text().splitlines(), "learned", "learned.tsv")
    assert not problems
    pairs = {(e.original, s) for e in entries for s in e.substitutes}
    assert {("officials", "bureaucrats"), ("new", "novel"), ("cost", "set back")} <= pairs
