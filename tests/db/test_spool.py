"""The spool: whole records fsynced per process, replayed in order, marked done durably."""

from __future__ import annotations

import os

import pytest

from db.spool import Spool, SpoolError


def test_records_are_replayed_in_the_order_written_and_only_once(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append("CA1", {"n": 1})
    spool.append("CA2", {"n": 2})
    seen = []
    report = spool.replay(lambda record: seen.append((record.key, record.values)))
    assert seen == [("CA1", {"n": 1}), ("CA2", {"n": 2})]
    assert (report.replayed, report.failed) == (2, 0)
    assert spool.replay(lambda record: seen.append(record.key)).replayed == 0
    assert len(seen) == 2


def test_a_replay_that_fails_leaves_the_record_and_those_after_it_for_the_next_pass(tmp_path):
    spool = Spool(tmp_path / "spool")
    for key in ("CA1", "CA2", "CA3"):
        spool.append(key, {})
    seen = []

    def fail_on_second(record):
        if record.key == "CA2" and "CA2" not in seen:
            seen.append("CA2")
            raise RuntimeError("database away")
        seen.append(record.key)

    first = spool.replay(fail_on_second)
    assert (first.replayed, first.failed) == (1, 1)
    second = spool.replay(fail_on_second)
    assert (second.replayed, second.failed) == (2, 0)
    assert seen == ["CA1", "CA2", "CA2", "CA3"]


def test_a_crash_after_a_record_was_applied_but_before_it_was_marked_replays_only_that_record(
    tmp_path,
):
    spool = Spool(tmp_path / "spool")
    for key in ("CA1", "CA2", "CA3"):
        spool.append(key, {})
    applied = []

    class Crash(BaseException):
        """A process killed between the effect and its mark (not an Exception: never caught)."""

    def crash_after_second(record):
        applied.append(record.key)
        if record.key == "CA2":
            raise Crash

    with pytest.raises(Crash):
        spool.replay(crash_after_second)
    # A new process on the same directory resumes after the last record marked done.
    Spool(tmp_path / "spool").replay(lambda record: applied.append(record.key))
    assert applied == ["CA1", "CA2", "CA2", "CA3"]  # CA2 twice: its effect must be idempotent


def test_a_line_cut_short_by_a_crash_is_no_record(tmp_path):
    spool = Spool(tmp_path / "spool")
    path = spool.append("CA1", {})
    with path.open("ab") as file:
        file.write(b'{"key":"CA2","val')
    seen = []
    spool.replay(lambda record: seen.append(record.key))
    assert seen == ["CA1"]


def test_each_process_writes_a_file_of_its_own(tmp_path):
    spool = Spool(tmp_path / "spool")
    mine = spool.append("CA1", {})
    pid = os.fork()
    if pid == 0:  # the child appends through the spool it inherited
        try:
            spool.append("CA2", {})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    files = spool.files()
    assert len(files) == 2
    assert mine in files


def test_a_finished_file_of_a_process_that_is_gone_is_removed(tmp_path):
    spool = Spool(tmp_path / "spool")
    pid = os.fork()
    if pid == 0:
        try:
            Spool(tmp_path / "spool").append("CA1", {})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert spool.replay(lambda record: None).replayed == 1
    assert spool.files() == []
    assert [path.name for path in (tmp_path / "spool").iterdir()] == [".replay.lock"]


def test_a_spool_that_cannot_be_written_raises(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(SpoolError):
        Spool(blocker / "spool").append("CA1", {})


def test_a_replay_while_another_is_under_way_on_the_host_skips_its_pass(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append("CA1", {})
    other = Spool(tmp_path / "spool")
    inner = []

    def replay_again_meanwhile(record):
        inner.append(other.replay(lambda again: inner.append(again.key)))

    spool.replay(replay_again_meanwhile)
    assert [report.replayed for report in inner] == [0]
