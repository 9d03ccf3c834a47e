"""The embedded broker wrapper: start/stop, errors that say what to do."""

from __future__ import annotations

import socket

import pytest

from workers.stream.broker import BrokerError, EmbeddedBroker, find_tansu_binary


def test_missing_binary_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "no-such-tansu"))
    with pytest.raises(BrokerError, match="CALF_TANSU_BIN"):
        find_tansu_binary()
    with pytest.raises(BrokerError):
        EmbeddedBroker().start()


def test_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError, match="already in use"):
            EmbeddedBroker(port=port).start()


@pytest.mark.broker
def test_start_answer_and_stop():
    with EmbeddedBroker() as broker:
        assert broker.running and broker.url == f"kafka://127.0.0.1:{broker.port}"
        with socket.create_connection(("127.0.0.1", broker.port), timeout=2):
            pass
    assert not broker.running
    broker.stop()  # idempotent
