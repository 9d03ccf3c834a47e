"""The transport floor: a raw aiokafka consume-then-produce loop with no processing.

Reads every partition of ``--input`` (manual assignment, from the earliest offset), and sends each
record's key and value unchanged to ``--output``, a batch at a time (``getmany``), waiting for the
batch's acknowledgements before taking the next one, as the worker does. No decoding, no JSON, no
consumer group. Prints ``ready`` on stdout once it is assigned and positioned; stops on SIGTERM.

    python bench/passthrough.py --bootstrap 127.0.0.1:9092 --input IN --output OUT
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


async def passthrough(bootstrap: str, source: str, sink: str, max_records: int = 32) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=-1, linger_ms=0)
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        partitions = None
        while partitions is None:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - the topic may be new
            partitions = consumer.partitions_for_topic(source)
            if partitions is None:
                await asyncio.sleep(0.2)
        tps = [TopicPartition(source, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        print("ready", flush=True)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=max_records)
            futures = [
                await producer.send(sink, key=r.key, value=r.value)
                for records in batch.values()
                for r in records
            ]
            if futures:
                await asyncio.gather(*futures)
    finally:
        await consumer.stop()
        await producer.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bootstrap", required=True, help="host:port")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--max-records", type=int, default=32, help="records per getmany (the worker's batch size)")
    args = p.parse_args(argv)
    asyncio.run(passthrough(args.bootstrap, args.input, args.output, args.max_records))


if __name__ == "__main__":
    sys.exit(main())
