"""Kafka SASL settings pass through to the client and never appear in logs, even at DEBUG."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = [pytest.mark.broker]


def test_sasl_credentials_reach_the_client_but_not_the_logs(broker, kit):
    secret = "s3cret-do-not-log"
    env = kit.stream_env(
        broker,
        UNSPUN_METRICS_PORT="0",
        UNSPUN_LOG_LEVEL="DEBUG",
        UNSPUN_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        UNSPUN_SASL_USERNAME="alice",
        UNSPUN_SASL_PASSWORD=secret,
    )
    try:
        proc = kit.run_cli(env, "worker", timeout=20)
        output = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:  # still retrying: inspect what it logged so far
        output = (exc.stdout or b"").decode(errors="replace") + (exc.stderr or b"").decode(errors="replace")
    # The embedded broker has no authentication, so the SASL handshake is attempted and refused.
    assert "SaslHandShake" in output, output[-3000:]
    assert secret not in output
