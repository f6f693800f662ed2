"""The embedded broker (config/broker.py): messages are whole when seen and taken once."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path
from queue import Empty

from kombu import Connection

PRODUCERS = 4
CONSUMERS = 3
PER_PRODUCER = 150


def _connection(root: Path) -> Connection:
    folder = str(root / "out")
    return Connection("filesystem://", transport="config.broker:Transport", transport_options={
        "data_folder_in": folder, "data_folder_out": folder, "control_folder": str(root / "control"),
        "processed_folder": str(root / "processed"), "polling_interval": 0.01,
    })


def _produce(root: Path, producer: int) -> None:
    with _connection(root) as connection:
        queue = connection.SimpleQueue("work")
        for n in range(PER_PRODUCER):
            # big enough that a reader racing a writer would see a partial file
            queue.put({"id": f"{producer}-{n}", "padding": "x" * 20_000})
        queue.close()


def _consume(root: Path, seen: multiprocessing.Queue, stop, deadline: float) -> None:
    with _connection(root) as connection:
        queue = connection.SimpleQueue("work")
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                message = queue.get(timeout=0.2)
            except Empty:
                continue
            seen.put(message.payload["id"])
            message.ack()
        queue.close()


def test_concurrent_producers_and_consumers_see_every_message_once_and_whole(tmp_path):
    context = multiprocessing.get_context("spawn")
    seen, stop = context.Queue(), context.Event()
    deadline = time.monotonic() + 60
    consumers = [context.Process(target=_consume, args=(tmp_path, seen, stop, deadline)) for _ in range(CONSUMERS)]
    producers = [context.Process(target=_produce, args=(tmp_path, p)) for p in range(PRODUCERS)]
    for process in consumers + producers:
        process.start()

    received: list[str] = []
    while len(received) < PRODUCERS * PER_PRODUCER and time.monotonic() < deadline + 5:
        try:
            received.append(seen.get(timeout=1))
        except Empty:
            pass
    time.sleep(0.5)  # a duplicate would arrive now
    stop.set()
    while True:
        try:
            received.append(seen.get(timeout=0.5))
        except Empty:
            break
    for process in producers + consumers:
        process.join(30)

    assert [p.exitcode for p in producers + consumers] == [0] * (PRODUCERS + CONSUMERS)
    expected = {f"{p}-{n}" for p in range(PRODUCERS) for n in range(PER_PRODUCER)}
    assert len(received) == len(expected)  # none twice
    assert set(received) == expected  # none lost
    assert os.listdir(tmp_path / "out") == [] and os.listdir(tmp_path / "claimed") == []


def test_a_message_still_being_written_is_not_taken(tmp_path):
    with _connection(tmp_path) as connection:
        queue = connection.SimpleQueue("work")
        staging = tmp_path / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        (staging / ".writing-abc").write_bytes(b'{"half": ')
        assert len(queue) == 0
        queue.put({"whole": True})
        assert queue.get(timeout=1).payload == {"whole": True}
        queue.close()


def test_fanout_bindings_survive_concurrent_binding_and_unbinding(tmp_path):
    with _connection(tmp_path) as connection:
        channel = connection.default_channel
        for n in range(20):
            channel._queue_bind("broadcast", "", "", f"q{n}")
        for n in range(0, 20, 2):
            channel._delete(f"q{n}", "broadcast", "", "")
        table = json.loads((tmp_path / "control" / "broadcast.exchange").read_text())
        assert sorted(row[2] for row in table) == sorted(f"q{n}" for n in range(1, 20, 2))
        channel._queue_bind("broadcast", "", "", "q1")  # binding twice keeps one row
        assert len(channel.get_table("broadcast")) == 10


# Its own queue name: kombu keeps bindings per process, and the tests above bound "work"
# in other folders.
def _hold_without_acking(root: Path, taken: multiprocessing.Queue) -> None:
    with _connection(root) as connection:
        queue = connection.SimpleQueue("held")
        for _ in range(3):
            taken.put(queue.get(timeout=30).payload["id"])
        time.sleep(60)  # killed here, holding three messages it never acknowledged


def test_messages_a_killed_consumer_held_are_delivered_again_and_acked_ones_are_gone(tmp_path):
    with _connection(tmp_path) as connection:
        queue = connection.SimpleQueue("held")
        for n in range(5):
            queue.put({"id": n})
        queue.close()
    context = multiprocessing.get_context("spawn")
    taken = context.Queue()
    holder = context.Process(target=_hold_without_acking, args=(tmp_path, taken))
    holder.start()
    held = sorted(taken.get(timeout=90) for _ in range(3))
    assert len(os.listdir(tmp_path / "claimed")) == 3  # held, not deleted
    holder.kill()  # SIGKILL: no clean shutdown gives them back
    holder.join(10)

    with _connection(tmp_path) as connection:
        queue = connection.SimpleQueue("held")
        received = []
        while True:
            try:
                message = queue.get(timeout=1)
            except Empty:
                break
            received.append(message.payload["id"])
            message.ack()
        queue.close()
    assert sorted(received) == [0, 1, 2, 3, 4]  # the killed consumer's three came back
    assert set(held) <= set(received)
    assert os.listdir(tmp_path / "claimed") == [] and os.listdir(tmp_path / "out") == []
