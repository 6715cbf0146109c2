"""The fetch pool (`ingestion.parallel`): requests keep going while the consumer works on a
result, memory stays bounded, and a failure names every task not handed on."""

from __future__ import annotations

import threading

import pytest

from ingestion.parallel import Task, TaskPool, TasksFailed

WAIT = 10.0  # seconds a test waits for a thread; only a broken pool ever waits that long


def gated(
    name: str, started: dict[str, threading.Event], gate: threading.Event | None = None
) -> Task[str]:
    started[name] = threading.Event()

    def run() -> tuple[str, list[Task[str]]]:
        started[name].set()
        if gate is not None:
            assert gate.wait(WAIT), f"{name} was never released"
        return name, []

    return Task(run, name)


def test_the_next_task_starts_while_the_consumer_holds_a_result() -> None:
    started: dict[str, threading.Event] = {}
    tasks = [gated(name, started) for name in ("a", "b", "c", "d")]
    results = TaskPool[str](workers=2).run(tasks)
    first = next(results)
    # The consumer has not asked again: the workers went on by themselves.
    assert started["d"].wait(WAIT), "tasks waited for the consumer to ask for a result"
    assert sorted([first, *results]) == ["a", "b", "c", "d"]


def test_results_not_handed_on_are_bounded() -> None:
    started: dict[str, threading.Event] = {}
    tasks = [gated(name, started) for name in ("a", "b", "c", "d")]
    results = TaskPool[str](workers=1, ahead=1).run(tasks)
    assert next(results) == "a"
    assert started["c"].wait(WAIT)
    # b waits to be handed on and c runs: nothing more starts until the consumer asks.
    assert not started["d"].wait(0.5)
    assert list(results) == ["b", "c", "d"]


def test_a_failure_names_every_task_not_handed_on() -> None:
    """The slow task ends before or after the failure is handled (running, or its result
    waiting): either way it is handed on or named, never lost and never both."""
    started: dict[str, threading.Event] = {}
    go = threading.Event()

    def failing() -> tuple[str, list[Task[str]]]:
        assert go.wait(WAIT)
        raise RuntimeError("retries spent")

    tasks = [
        gated("first", started),
        Task(failing, "failing"),
        gated("slow", started, go),
        gated("queued", started, go),
    ]
    results = TaskPool[str](workers=3).run(tasks)
    handed_on = [next(results)]
    assert handed_on == ["first"]
    go.set()
    with pytest.raises(TasksFailed) as failure:
        handed_on.extend(results)
    unfinished = [task.position for task in failure.value.unfinished]
    assert "failing" in unfinished
    assert sorted(handed_on + unfinished) == ["failing", "first", "queued", "slow"]
