"""The executor's watch over a run's partitions: move, follow or fail them, with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from apps.core.errors import CoreError
from apps.core.io.mapped import MappedPartition
from apps.core.watch import PartitionWatch, Submitted


def partition(index: int, nodes: tuple[str, ...] = ()) -> MappedPartition:
    return MappedPartition(
        path="/data/scan.raw",
        offset=0,
        index=index,
        start=index * 10,
        stop=index * 10 + 10,
        sig_shape=(4, 4),
        dtype=np.uint16,
        nodes=nodes,
    )


def identity(**workers: tuple[str, str, float]) -> dict:
    """``name=(address, status, last_seen)``."""
    return {
        "workers": {
            address: {"name": name, "status": status, "last_seen": seen}
            for name, (address, status, seen) in workers.items()
        }
    }


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def watch(clock: Clock) -> PartitionWatch:
    return PartitionWatch(hung_after=10.0, unrunnable_after=60.0, clock=clock)


class Future:
    """What the watch reads of a dask future: its key."""

    def __init__(self, key: str) -> None:
        self.key = key


def future(key: str) -> Future:
    return Future(key)


def test_a_partition_on_a_hung_worker_moves_to_one_that_runs(watch, monkeypatch):
    monkeypatch.setattr("time.time", lambda: 100.0)
    cluster = identity(a=("tcp://a", "running", 99.0), b=("tcp://b", "running", 50.0))
    on_b, on_a = future("p0"), future("p1")
    running = {
        on_b: Submitted(partition(0), None, ["tcp://b"], loose=True),
        on_a: Submitted(partition(1), None, ["tcp://a"], loose=True),
    }
    assert watch.healthy(cluster) == {"tcp://a"}
    assert watch.review(running, cluster, {"tcp://b": ["p0"], "tcp://a": ["p1"]}) == [on_b]


def test_a_stored_partition_follows_its_node_to_a_new_address(watch, monkeypatch):
    monkeypatch.setattr("time.time", lambda: 100.0)
    restarted = identity(a=("tcp://a2", "running", 99.0))
    fut = future("p0")
    running = {fut: Submitted(partition(0, ("a",)), None, ["tcp://a1"])}
    assert watch.review(running, restarted, {}) == [fut]


def test_a_stored_partition_whose_node_is_paused_fails_after_the_limit(watch, clock, monkeypatch):
    monkeypatch.setattr("time.time", lambda: 100.0)
    cluster = identity(a=("tcp://a", "paused", 99.0), b=("tcp://b", "running", 99.0))
    fut = future("p3")
    running = {fut: Submitted(partition(3, ("a",)), None, ["tcp://a"])}
    assert watch.review(running, cluster, {}) == []
    clock.now = 59.0
    assert watch.review(running, cluster, {}) == []
    clock.now = 61.0
    with pytest.raises(CoreError) as err:
        watch.review(running, cluster, {})
    assert str(err.value) == (
        "No worker can run partition 3 (frames 30-39): a paused for 61 s. "
        "Run the job again once the cluster is healthy (see /healthz)."
    )


def test_a_partition_blocked_only_for_a_while_starts_its_count_again(watch, clock, monkeypatch):
    monkeypatch.setattr("time.time", lambda: 100.0)
    paused = identity(a=("tcp://a", "paused", 99.0))
    fine = identity(a=("tcp://a", "running", 99.0))
    fut = future("p0")
    running = {fut: Submitted(partition(0, ("a",)), None, ["tcp://a"])}
    watch.review(running, paused, {})
    clock.now = 50.0
    watch.review(running, fine, {})  # resumed: not blocked any more
    clock.now = 100.0
    assert watch.review(running, paused, {}) == []  # blocked again since 100 s only


def test_no_worker_at_all_fails_any_partition_after_the_limit(watch, clock):
    fut = future("p0")
    running = {fut: Submitted(partition(0), None, None)}
    watch.review(running, {"workers": {}}, {})
    clock.now = 60.0
    with pytest.raises(CoreError, match=r"partition 0 \(frames 0-9\): no dask worker is connected"):
        watch.review(running, {"workers": {}}, {})


def test_a_queued_partition_waits_for_a_running_worker(watch, clock, monkeypatch):
    monkeypatch.setattr("time.time", lambda: 100.0)
    cluster = identity(a=("tcp://a", "running", 99.0), b=("tcp://b", "paused", 99.0))
    fut = future("p0")
    running = {fut: Submitted(partition(0, ("a", "b")), None, ["tcp://a", "tcp://b"])}
    clock.now = 1000.0
    assert watch.review(running, cluster, {}) == []


def test_a_stored_partition_on_a_hung_node_moves_to_a_replica(watch, monkeypatch):
    monkeypatch.setattr("time.time", lambda: 100.0)
    cluster = identity(a=("tcp://a", "running", 50.0), b=("tcp://b", "running", 99.0))
    fut = future("p0")
    running = {fut: Submitted(partition(0, ("a", "b")), None, ["tcp://a"])}
    assert watch.review(running, cluster, {"tcp://a": ["p0"]}) == [fut]


def test_a_result_held_by_a_hung_worker_is_computed_again(watch, monkeypatch):
    # finished on b, which stopped before the result was fetched: the fetch waits on b for good
    monkeypatch.setattr("time.time", lambda: 100.0)
    cluster = identity(a=("tcp://a", "running", 99.0), b=("tcp://b", "running", 50.0))
    held, fetching = future("p0"), future("p1")
    running = {
        held: Submitted(partition(0), None, ["tcp://b"], loose=True),
        fetching: Submitted(partition(1), None, ["tcp://a"], loose=True),
    }
    holding = {"p0": ["tcp://b"], "p1": ["tcp://a", "tcp://b"]}
    assert watch.review(running, cluster, {}, holding) == [held]
    assert watch.review(running, cluster, {}, {"p0": []}) == []  # gone from memory: dask's


def test_a_result_that_does_not_arrive_from_a_running_worker_is_computed_again(
    watch, clock, monkeypatch
):
    # held by a that runs, but its fetch is stuck in a batch with hung b's: after hung_after
    # seconds it is computed again; a result fetched in time never is
    monkeypatch.setattr("time.time", lambda: 100.0)
    cluster = identity(a=("tcp://a", "running", 99.0), b=("tcp://b", "running", 50.0))
    stuck, fresh = future("p0"), future("p1")
    running = {
        stuck: Submitted(partition(0), None, ["tcp://a"], loose=True),
        fresh: Submitted(partition(1), None, ["tcp://a"], loose=True),
    }
    assert watch.review(running, cluster, {}, {"p0": ["tcp://a"]}) == []
    clock.now = 9.0
    assert watch.review(running, cluster, {}, {"p0": ["tcp://a"], "p1": ["tcp://a"]}) == []
    clock.now = 10.5
    assert watch.review(running, cluster, {}, {"p0": ["tcp://a"], "p1": ["tcp://a"]}) == [stuck]


def test_a_slow_result_from_a_healthy_cluster_is_left_to_arrive(watch, clock, monkeypatch):
    monkeypatch.setattr("time.time", lambda: 100.0)
    cluster = identity(a=("tcp://a", "running", 99.0), b=("tcp://b", "running", 99.5))
    big = future("p0")
    running = {big: Submitted(partition(0), None, ["tcp://a"], loose=True)}
    assert watch.review(running, cluster, {}, {"p0": ["tcp://a"]}) == []
    clock.now = 600.0
    assert watch.review(running, cluster, {}, {"p0": ["tcp://a"]}) == []
