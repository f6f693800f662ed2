"""The embedded broker: kombu's filesystem transport, made safe for several processes.

kombu's own filesystem transport (5.7) has two races that matter once a web process,
a worker and beat share one folder:

* a producer creates the message file under its final name and only then writes it, so a
  consumer can take the empty file and die on ``JSONDecodeError`` ("Unrecoverable error");
* a consumer claims a message with ``shutil.move`` into the system temp directory, which
  is a copy and an unlink when that is another filesystem, so two consumers can both take
  the same message.

and a third that matters once a consumer dies:

* a consumer deletes the message file as it takes it, before the task has run; a consumer
  killed then (SIGKILL, the OOM killer) loses every message it held, acks_late or not,
  where Redis gives unacknowledged messages back.

Here a message is written under a temporary name in a sibling folder and renamed into the
queue folder when complete, and a consumer claims it by renaming it into ``claimed/``
under its own name (pid and process start time): a rename is atomic, so a message is
whole when seen and taken once. The claimed file stays until the message is acknowledged
(or rejected, or given back at a clean shutdown). Every consumer, when it starts and then
every few seconds, moves the claimed files of consumers that no longer run back into the
queue, so their messages are delivered again. Exchange tables are replaced the same way.
Everything else is kombu's. The folder is one machine's: consumers on other machines
would be taken for dead (scale out with Redis, README "Scaling out").
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import uuid
from collections import defaultdict, deque
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads


def _write_atomically(path: Path, data: bytes, staging: Path) -> None:
    """Write ``data`` so that ``path`` either does not exist yet or holds all of it."""
    fd, temporary = tempfile.mkstemp(dir=staging, prefix=".writing-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


RECLAIM_EVERY_S = 5.0
_SEP = "~"  # claimed/<owner>~<random>~<message file name>


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (/proc/<pid>/stat field 22), or None if gone.

    With the pid it names one process for the machine's uptime, however pids are reused.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat.rpartition(b")")[2].split()[19].decode()  # the command may contain ") "


def _owner_alive(owner: str) -> bool:
    pid, _, started = owner.partition(".")
    return pid.isdigit() and _start_time(int(pid)) == started


class Channel(filesystem.Channel):
    """A filesystem channel whose messages are whole when seen and taken once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for folder in (self.data_folder_in, self.data_folder_out, self._staging_folder, self._claimed_folder):
            Path(folder).mkdir(parents=True, exist_ok=True)
        self._held: dict[str, Path] = {}  # delivery tag -> its claimed file, until acknowledged
        self._owner = ""
        self._reclaimed_at = float("-inf")
        self._listing: defaultdict[str, deque[str]] = defaultdict(deque)  # queue -> file names (_waiting)

    @property
    def _staging_folder(self) -> Path:
        return Path(self.transport_options.get("staging_folder") or Path(self.data_folder_out).parent / "staging")

    @property
    def _claimed_folder(self) -> Path:
        return Path(self.transport_options.get("claimed_folder") or Path(self.data_folder_in).parent / "claimed")

    # --- messages -------------------------------------------------------------------------

    def _put(self, queue, payload, **kwargs):
        filename = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        try:
            _write_atomically(Path(self.data_folder_out) / filename, dumps(payload).encode(), self._staging_folder)
        except OSError as exc:
            raise ChannelError(f"Cannot add message {filename!r} to the broker folder") from exc

    def _waiting(self, queue: str) -> deque[str]:
        """The queue's message files, oldest first, from one listing of the folder.

        The folder is listed again only when the queue's share of the last listing is used
        up: listing (and sorting) a folder of n messages for each message taken made a burst
        cost n² (1,000 job firings: a worker spent 29 ms of CPU per run, most of it here).
        Names another consumer took meanwhile fail their rename and are skipped.
        """
        waiting = self._listing.get(queue)
        if not waiting:
            self._listing = defaultdict(deque)
            for filename in sorted(os.listdir(self.data_folder_in)):
                self._listing[filename.partition(".")[2].removesuffix(".msg")].append(filename)
            waiting = self._listing[queue]
        return waiting

    def _get(self, queue):
        if monotonic() - self._reclaimed_at >= RECLAIM_EVERY_S:
            self.reclaim_orphans()
        claimed = self._claimed_folder
        waiting = self._waiting(queue)
        while waiting:
            filename = waiting.popleft()
            mine = claimed / _SEP.join((self._consumer(), uuid.uuid4().hex, filename))
            try:
                os.rename(os.path.join(self.data_folder_in, filename), mine)
            except FileNotFoundError:
                continue  # another consumer took it first
            try:
                payload = loads(mine.read_bytes().decode())
            except OSError as exc:
                raise ChannelError(f"Cannot read message {filename!r} from the broker folder") from exc
            tag = (payload.get("properties") or {}).get("delivery_tag")
            if tag is None:
                self._settle(mine)  # nothing will acknowledge it
            else:
                self._held[tag] = mine
            return payload
        raise Empty()

    def _consumer(self) -> str:
        """This process's name in claimed files; a forked child gets its own."""
        pid = os.getpid()
        if not self._owner.startswith(f"{pid}."):
            self._owner = f"{pid}.{_start_time(pid)}"
            self._held.clear()  # a fork's copy of its parent's: the parent settles those
        return self._owner

    def _settle(self, claimed: Path) -> None:
        """The message is done with: drop its claimed file (or keep it, with store_processed)."""
        try:
            if self.store_processed:
                os.replace(claimed, Path(self.processed_folder) / claimed.name.rpartition(_SEP)[2])
            else:
                claimed.unlink()
        except FileNotFoundError:
            pass

    def _release(self, delivery_tag: Any) -> None:
        held = self._held.pop(delivery_tag, None)
        if held is not None:
            self._settle(held)

    def basic_ack(self, delivery_tag, multiple=False):
        super().basic_ack(delivery_tag, multiple)
        self._release(delivery_tag)

    def basic_reject(self, delivery_tag, requeue=False):
        super().basic_reject(delivery_tag, requeue=requeue)  # requeue puts a copy back first
        self._release(delivery_tag)

    def _restore(self, message):
        # unacknowledged at a clean shutdown: kombu puts a copy back, so ours goes
        super()._restore(message)
        self._release(message.delivery_tag)

    def reclaim_orphans(self) -> int:
        """Put the messages held by consumers that no longer run back into the queue."""
        self._reclaimed_at = monotonic()
        returned = 0
        for name in os.listdir(self._claimed_folder):
            owner, _, rest = name.partition(_SEP)
            filename = rest.partition(_SEP)[2]
            if not filename or _owner_alive(owner):
                continue
            try:
                os.rename(self._claimed_folder / name, Path(self.data_folder_in) / filename)
            except FileNotFoundError:
                continue  # another consumer returned it first
            returned += 1
        return returned

    # --- exchange tables (fanout and topic bindings) --------------------------------------

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            table = loads(file.read_text())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        return [filesystem.exchange_queue_t(*row) for row in table]

    def _update_table(self, exchange, change) -> None:
        """Read, change and replace an exchange table under a lock that writers share."""
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        with open(self.control_folder / ".tables.lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                rows = self.get_table(exchange)
                changed = change(rows)
                if changed is not None:
                    _write_atomically(file, dumps(changed).encode(), self.control_folder)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")

        def add(rows):
            return None if row in rows else [row, *rows]

        self._update_table(exchange, add)

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # kombu's virtual channel forgets the binding in memory; this forgets it on disk.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")

        def remove(rows):
            return [r for r in rows if r != row] if row in rows else None

        self._update_table(exchange, remove)


class Transport(filesystem.Transport):
    """kombu's filesystem transport with :class:`Channel`."""

    Channel = Channel
    global_state = filesystem.virtual.BrokerState()
