"""A bounded pool of fetch tasks that may create more tasks as they learn about the data."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Task(Generic[T]):
    """A fetch: `run` returns what it fetched and the tasks that follow from it (next page,
    split slice). `position` says where the part it has yet to read starts (a page number, a
    change time): after a failure, what the unfinished tasks' positions leave out was read."""

    run: Callable[[], tuple[T, list[Task[T]]]]
    position: Any = None


class TasksFailed(Exception):
    """A task failed (its retries spent); `unfinished` are the tasks whose results were not
    handed on: the failed one, the ones running, waiting to be handed on, or queued then."""

    def __init__(self, cause: BaseException, unfinished: list[Task[Any]]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.unfinished = unfinished


class TaskPool(Generic[T]):
    """Runs tasks on `workers` threads, at most `workers` at a time, yielding results in
    completion order. A finished task's worker starts the next task at once, not when the
    consumer next asks: the consumer's work on a result (converting a page, dlt writing it)
    never leaves the connections idle. Memory stays bounded: results not yet handed on, and
    tasks running, are at most `workers + ahead`. The first failure cancels what is queued
    and raises `TasksFailed`, which names every task not handed on."""

    def __init__(self, workers: int, ahead: int | None = None) -> None:
        self.workers = max(1, workers)
        self.ahead = self.workers if ahead is None else max(0, ahead)

    def run(self, tasks: Iterable[Task[T]]) -> Iterator[T]:
        queued: deque[Task[T]] = deque(tasks)
        running: dict[Future[tuple[T, list[Task[T]]]], Task[T]] = {}
        # (task, result, error), in completion order.
        finished: queue.SimpleQueue[tuple[Task[T], Any, BaseException | None]] = queue.SimpleQueue()
        lock = threading.RLock()  # a done callback may run in the submitting thread
        waiting = 0  # results in `finished`, not yet handed on
        stopped = False

        def start_more() -> None:
            while (
                not stopped
                and queued
                and len(running) < self.workers
                and len(running) + waiting < self.workers + self.ahead
            ):
                task = queued.popleft()
                future = executor.submit(task.run)
                running[future] = task
                future.add_done_callback(on_done)

        def on_done(future: Future[tuple[T, list[Task[T]]]]) -> None:
            nonlocal waiting
            with lock:
                task = running.pop(future, None)
                if task is None or future.cancelled():
                    return
                error = future.exception()
                if error is None:
                    result, follow_ups = future.result()
                    queued.extend(follow_ups)
                    finished.put((task, result, None))
                else:
                    finished.put((task, None, error))
                waiting += 1
                start_more()

        with ThreadPoolExecutor(self.workers, thread_name_prefix="fetch") as executor:
            try:
                with lock:
                    start_more()
                while True:
                    with lock:
                        if not waiting and not running and not queued:
                            return
                    task, result, error = finished.get()
                    with lock:
                        waiting -= 1
                        if error is not None:
                            stopped = True
                            unhanded = []
                            while not finished.empty():
                                unhanded.append(finished.get()[0])
                            unfinished = [task, *running.values(), *unhanded, *queued]
                            raise TasksFailed(error, unfinished) from error
                        start_more()
                    yield result
            finally:
                with lock:
                    stopped = True
                    queued.clear()
                    for future in list(running):
                        future.cancel()
