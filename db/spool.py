"""A durable spool on the local disk for what must outlive a database that is away.

A web process that cannot reach the database appends the caller's number here, and the worker
on the same host replays it into the database once it answers again. Writer and reader live in
one module because they share one file format and one notion of "done". It sits in ``db``, the
lowest layer, because both the web edge (``ivr``, which writes) and the intake domain (whose
periodic work replays) import it, and because like the database it only keeps records: it
knows nothing of calls; the record is a plain JSON object with an idempotency key.

- One append-only JSON-lines file per process (``<host>-<pid>-<start>.jsonl``): writers never
  share a file, so they need no lock. Each record is one line, written whole and fsynced before
  the caller is told that we will call back (the directory too, when the file is new).
- Progress is a byte offset per file (``<file>.done``), replaced atomically (write, fsync,
  rename) after each record is replayed: a crash mid-replay resumes after the last record
  marked done. A record replayed but not yet marked is replayed again, so a replay must be
  idempotent by the record's key (a CallSid settles one call, however often it is replayed).
- A line without its newline (the writer died mid-append) is left until it is completed; it
  never is, and it is no record: a writer fsyncs only whole lines.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("hotline.spool")

SUFFIX = ".jsonl"
DONE_SUFFIX = ".done"
REPLAY_LOCK = ".replay.lock"


class SpoolError(Exception):
    """A record could not be made durable (disk full, directory unwritable...)."""


@dataclass(frozen=True)
class SpooledRecord:
    """One record read back: its key, its values, and where it ends in its file."""

    key: str
    values: dict[str, Any]
    file: str
    end_offset: int


@dataclass(frozen=True)
class ReplayReport:
    """What one replay pass did."""

    replayed: int
    failed: int
    pending_files: int


class Spool:
    """The spool directory of one host: this process's writer, and the reader of every file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._pid = -1
        self._name = ""

    # -- writing ----------------------------------------------------------------------------

    def append(self, key: str, values: dict[str, Any]) -> Path:
        """Append one record and fsync it; raises ``SpoolError`` when it is not on disk."""
        line = json.dumps({"key": key, "values": values}, separators=(",", ":"), sort_keys=True)
        if "\n" in line:  # json.dumps escapes newlines; a raw one would split the record
            raise SpoolError("a record must be one line")
        data = (line + "\n").encode()
        with self._lock:
            path = self._own_file()
            try:
                is_new = not path.exists()
                if is_new:
                    self.directory.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    # One write of a whole line with O_APPEND; a short write would leave a
                    # partial line, which readers skip as unfinished.
                    written = os.write(fd, data)
                    if written != len(data):
                        raise SpoolError(f"short write: {written} of {len(data)} bytes")
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if is_new:
                    _fsync_directory(self.directory)
            except OSError as exc:
                raise SpoolError(f"{type(exc).__name__}: {exc.strerror or exc}") from exc
        return path

    def _own_file(self) -> Path:
        # A new file after a fork: a child never appends to its parent's file.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            host = socket.gethostname().replace("/", "_")
            self._name = f"{host}-{self._pid}-{time.time_ns()}{SUFFIX}"
        return self.directory / self._name

    # -- reading and replaying --------------------------------------------------------------

    def files(self) -> list[Path]:
        """Every spool file of this host, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(
            self.directory.glob(f"*{SUFFIX}"), key=lambda path: (path.stat().st_mtime, path.name)
        )

    def pending(self) -> Iterator[SpooledRecord]:
        """Every whole record not yet marked done, file by file, in the order written."""
        for path in self.files():
            yield from self._pending_in(path)

    def _pending_in(self, path: Path) -> Iterator[SpooledRecord]:
        offset = _done_offset(path)
        with path.open("rb") as file:
            file.seek(offset)
            for raw in file:
                if not raw.endswith(b"\n"):
                    return  # unfinished: its writer is still at it, or died mid-line
                offset += len(raw)
                try:
                    record = json.loads(raw)
                    key, values = str(record["key"]), dict(record["values"])
                except (ValueError, KeyError, TypeError):
                    log.error("event=spool_record_unreadable file=%s end=%s", path.name, offset)
                    continue  # never fsynced by our writer; skipped by the next mark_done
                yield SpooledRecord(key=key, values=values, file=path.name, end_offset=offset)

    def mark_done(self, record: SpooledRecord) -> None:
        """Remember durably that ``record`` (and everything before it in its file) is replayed."""
        path = self.directory / record.file
        done = path.with_name(path.name + DONE_SUFFIX)
        temporary = done.with_name(done.name + ".tmp")
        with temporary.open("w") as file:
            file.write(str(record.end_offset))
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(done)
        _fsync_directory(self.directory)

    def replay(self, apply: Callable[[SpooledRecord], None]) -> ReplayReport:
        """Apply every pending record in order and mark each done; stop a file at its first
        failure (its records stay pending, to be tried again by the next pass).

        One replay at a time per directory: several workers on a host (``hotline serve
        --with-worker`` in each web process) take turns on a file lock; one that finds it taken
        skips its pass.
        """
        if not self.directory.is_dir():
            return ReplayReport(0, 0, pending_files=0)
        with (self.directory / REPLAY_LOCK).open("a") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return ReplayReport(0, 0, pending_files=len(self.files()))
            return self._replay(apply)

    def _replay(self, apply: Callable[[SpooledRecord], None]) -> ReplayReport:
        replayed = failed = 0
        for path in self.files():
            for record in self._pending_in(path):
                try:
                    apply(record)
                except Exception as exc:
                    failed += 1
                    log.warning(
                        "event=spool_replay_failed file=%s key=%s error=%s",
                        record.file,
                        record.key,
                        f"{type(exc).__name__}: {exc}",
                    )
                    break
                self.mark_done(record)
                replayed += 1
            self._remove_if_finished(path)
        return ReplayReport(replayed, failed, pending_files=len(self.files()))

    def _remove_if_finished(self, path: Path) -> None:
        """Drop a file every record of which is done and whose writer is gone."""
        if path.name == self._name and self._pid == os.getpid():
            return
        if _writer_alive(path) or _done_offset(path) < path.stat().st_size:
            return
        path.unlink()
        path.with_name(path.name + DONE_SUFFIX).unlink(missing_ok=True)
        _fsync_directory(self.directory)


def _done_offset(path: Path) -> int:
    done = path.with_name(path.name + DONE_SUFFIX)
    try:
        return int(done.read_text().strip() or 0)
    except FileNotFoundError:
        return 0


def _writer_alive(path: Path) -> bool:
    """Whether the process that wrote ``path`` on this host still runs (it may append more)."""
    parts = path.name[: -len(SUFFIX)].rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    host, pid = parts[0], int(parts[1])
    if host != socket.gethostname().replace("/", "_"):
        return False  # a file copied from another host: no process here writes it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_directory(directory: Path) -> None:
    # A new or renamed file survives a power cut only once its directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
