"""``unspun worker`` with one consumer setting changed, to measure what a fix would buy.

Faust's aiokafka driver creates its consumer with ``fetch_max_wait_ms=1500`` (hard-coded; no Faust
setting reaches it). The embedded broker (Tansu) answers a fetch only when that wait runs out, not
when a message arrives, so every article waits on average several hundred milliseconds before the
worker sees it. This wrapper overrides the value with ``UNSPUN_BENCH_FETCH_MAX_WAIT_MS`` (default
50) and runs the worker exactly as ``python -m workers.cli worker`` would. Benchmark use only.
"""

from __future__ import annotations

import os
import sys

import aiokafka


def patch_fetch_wait(ms: int) -> None:
    original = aiokafka.AIOKafkaConsumer.__init__

    def __init__(self, *topics, **kwargs):
        if "fetch_max_wait_ms" in kwargs:
            kwargs["fetch_max_wait_ms"] = ms
        original(self, *topics, **kwargs)

    aiokafka.AIOKafkaConsumer.__init__ = __init__


def main() -> None:
    patch_fetch_wait(int(os.environ.get("UNSPUN_BENCH_FETCH_MAX_WAIT_MS", "50")))
    from workers.cli import main as cli_main

    sys.argv = ["unspun", "worker"]
    cli_main()


if __name__ == "__main__":
    main()
