"""Outputs at the edges, through the real worker process on the real broker: dead-letter payloads
sized by UNSPUN_MAX_MESSAGE_BYTES (kept whole when they fit, cut and flagged when not)."""

from __future__ import annotations

import base64
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MAX_MESSAGE_BYTES = 200_000
FITS = b"not json " + b"x" * 150_000  # over the old fixed 64 KiB cut, under the message limit
CUT = b"not json " + b"y" * 400_000  # over the message limit: cut to fit
# (key, raw value)
INPUTS = [
    (b"dl-fits", FITS),
    (b"dl-cut", CUT),
]


@pytest.fixture(scope="module")
def run(broker, kit, tmp_path_factory):
    """One worker with a 200 kB message limit; every input sent, every output collected."""
    from workers.stream.broker import free_port

    port = free_port()
    env = kit.stream_env(broker, UNSPUN_MAX_MESSAGE_BYTES=str(MAX_MESSAGE_BYTES), UNSPUN_METRICS_PORT=str(port))
    settings = kit.settings_for(env)
    log_path = tmp_path_factory.mktemp("limits") / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "worker"],
            env=kit.subprocess_env(env), cwd=str(kit.repo),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log_path.read_text()[-5000:]
            try:
                if kit.http_get(port, "/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "worker not ready:\n" + log_path.read_text()[-5000:]
            time.sleep(0.2)
        kit.produce(settings, settings.input_topic, INPUTS, partition=0)
        outputs = kit.consume(settings, [settings.enriched_topic, settings.dlq_topic], expected=len(INPUTS), timeout_s=90)
        for _ in range(50):  # metrics are recorded just after the sends are acknowledged
            metrics_text = kit.http_get(port, "/metrics")[1]
            if f"unspun_end_to_end_latency_seconds_count {float(len(INPUTS))}" in metrics_text:
                break
            time.sleep(0.1)
        yield {"settings": settings, "outputs": {r.key: r for r in outputs}, "all": outputs,
               "metrics": metrics_text, "proc": proc, "log": log_path}
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_one_output_per_input_and_the_worker_is_still_running(run):
    assert sorted(r.key for r in run["all"]) == sorted(k for k, _ in INPUTS)
    assert run["proc"].poll() is None, run["log"].read_text()[-3000:]


def test_dead_letter_payload_that_fits_is_kept_whole(run, schema_validator):
    record = run["outputs"][b"dl-fits"]
    assert record.topic == run["settings"].dlq_topic
    assert record.json["payload_truncated"] is False and record.json["payload_encoding"] == "utf-8"
    assert record.json["payload"].encode() == FITS
    assert not list(schema_validator("deadletter.v1").iter_errors(record.json))


def test_dead_letter_payload_over_the_limit_is_cut_to_fit(run, schema_validator):
    record = run["outputs"][b"dl-cut"]
    assert record.json["kind"] == "not_json" and record.json["payload_truncated"] is True
    kept = base64.b64decode(record.json["payload"])
    assert CUT.startswith(kept) and len(kept) > MAX_MESSAGE_BYTES // 2
    assert len(record.value) <= MAX_MESSAGE_BYTES
    assert not list(schema_validator("deadletter.v1").iter_errors(record.json))
