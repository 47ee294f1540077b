"""The fault journal under concurrent writers: processes and threads never lose an entry."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from failover_tests.journal import Entry, Journal

WRITERS = 4
EACH = 40


def _write_many(root: str, tag: str) -> None:
    journal = Journal("t", root=Path(root))
    for i in range(EACH):
        journal.record(Entry(id=f"{tag}-{i}", fault="pause", selector="api-0", targets=["sd-t-api-0"], params={}))
        if i % 2:
            journal.remove(f"{tag}-{i - 1}")


def test_concurrent_processes_keep_every_entry(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), f"p{n}")) for n in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ids = {e.id for e in Journal("t", root=tmp_path).entries()}
    # Every odd entry stays, every even one was removed by the same writer: nothing lost, nothing revived.
    assert ids == {f"p{n}-{i}" for n in range(WRITERS) for i in range(1, EACH, 2)}


def test_concurrent_threads_keep_every_entry(tmp_path: Path) -> None:
    threads = [threading.Thread(target=_write_many, args=(str(tmp_path), f"t{n}")) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = {e.id for e in Journal("t", root=tmp_path).entries()}
    assert ids == {f"t{n}-{i}" for n in range(WRITERS) for i in range(1, EACH, 2)}
