"""The server-side queue: order, reorder, dequeue, and what a restart brings back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segmenter.errors import ConfigError
from segmenter.service.queue import ItemState, JobQueue, QueueItem


def item(item_id: str) -> QueueItem:
    return QueueItem(item_id, [f"/data/img/{item_id}"], {"workers": 1})


def test_items_run_in_order_and_reorder_moves_them_to_the_front(tmp_path: Path) -> None:
    q = JobQueue(tmp_path)
    for name in "abcd":
        q.add(item(name))
    q.reorder(("c", "b"))
    assert [i.id for i in q.pending] == ["c", "b", "a", "d"]
    with pytest.raises(ConfigError, match="order: x"):
        q.reorder(("x",))
    taken = q.take_next()
    assert taken is not None and taken.id == "c" and taken.state is ItemState.RUNNING


def test_duplicate_ids_and_a_full_queue_are_refused(tmp_path: Path) -> None:
    q = JobQueue(tmp_path, max_pending=2)
    q.add(item("a"))
    with pytest.raises(ConfigError, match=r"^id:"):
        q.add(item("a"))
    q.add(item("b"))
    with pytest.raises(ConfigError, match="full"):
        q.add(item("c"))


def test_dequeue_only_pending_items(tmp_path: Path) -> None:
    q = JobQueue(tmp_path)
    q.add(item("a"))
    q.add(item("b"))
    q.take_next()
    with pytest.raises(ConfigError, match="running"):
        q.dequeue("a")
    assert q.dequeue("b").state is ItemState.INTERRUPTED
    with pytest.raises(ConfigError, match="no pending item"):
        q.dequeue("b")


def test_a_paused_queue_runs_nothing(tmp_path: Path) -> None:
    q = JobQueue(tmp_path)
    q.add(item("a"))
    q.paused = True
    assert q.take_next() is None


def test_a_restart_loses_nothing_and_resumes_first(tmp_path: Path) -> None:
    q = JobQueue(tmp_path)
    for name in ("crashed", "shutdown", "stopped", "finished", "waiting"):
        q.add(item(name))
    crashed = q.take_next()  # still running when the process died
    assert crashed is not None
    q.current = None
    shut = q.take_next()
    assert shut is not None
    shut.resume = True
    q.finish(shut, ItemState.INTERRUPTED, "stopped")
    stopped = q.take_next()
    assert stopped is not None
    q.finish(stopped, ItemState.INTERRUPTED, "stopped")  # by a user: stays stopped
    done = q.take_next()
    assert done is not None
    q.finish(done, ItemState.DONE)
    q.current = crashed
    crashed.state = ItemState.RUNNING
    q.save()
    assert json.loads((tmp_path / ".segmenter" / "queue.json").read_text())["version"] == 1

    again = JobQueue(tmp_path)
    resumed = again.load()
    assert {i.id for i in resumed} == {"crashed", "shutdown"}
    assert [i.id for i in again.pending][2:] == ["waiting"]
    assert all(i.state is ItemState.PENDING for i in again.pending)
    assert {i.id: i.state for i in again.history} == {
        "stopped": ItemState.INTERRUPTED,
        "finished": ItemState.DONE,
    }


def test_an_unreadable_queue_file_is_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / ".segmenter" / "queue.json"
    path.parent.mkdir()
    path.write_text("{half a file")
    q = JobQueue(tmp_path)
    assert q.load() == [] and not q.pending
    assert not path.exists() and list(path.parent.glob("queue.json.bad-*"))


def test_no_temporary_file_is_left(tmp_path: Path) -> None:
    q = JobQueue(tmp_path)
    q.add(item("a"))
    q.save()
    assert sorted(p.name for p in (tmp_path / ".segmenter").iterdir()) == ["queue.json"]
