"""The embedded broker: kombu's filesystem transport, made safe for several processes.

kombu's own filesystem transport (5.7) has two races that matter once a web process,
a worker and beat share one folder:

* a producer creates the message file under its final name and only then writes it, so a
  consumer can take the empty file and die on ``JSONDecodeError`` ("Unrecoverable error");
* a consumer claims a message with ``shutil.move`` into the system temp directory, which
  is a copy and an unlink when that is another filesystem, so two consumers can both take
  the same message.

Here a message is written under a temporary name in a sibling folder and renamed into the
queue folder when complete, and a consumer claims it by renaming it into a folder on the
same filesystem: a rename is atomic, so a message is whole when seen and taken once.
Exchange tables are replaced the same way. Everything else is kombu's.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic

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


class Channel(filesystem.Channel):
    """A filesystem channel whose messages are whole when seen and taken once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for folder in (self.data_folder_in, self.data_folder_out, self._staging_folder, self._claimed_folder):
            Path(folder).mkdir(parents=True, exist_ok=True)

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

    def _get(self, queue):
        wanted = f"{queue}.msg"
        claimed = self._claimed_folder
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != wanted:
                continue
            mine = claimed / f"{uuid.uuid4().hex}-{filename}"
            try:
                os.rename(os.path.join(self.data_folder_in, filename), mine)
            except FileNotFoundError:
                continue  # another consumer took it first
            try:
                payload = mine.read_bytes()
                if self.store_processed:
                    os.replace(mine, Path(self.processed_folder) / filename)
                else:
                    mine.unlink()
            except OSError as exc:
                raise ChannelError(f"Cannot read message {filename!r} from the broker folder") from exc
            return loads(payload.decode())
        raise Empty()

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
