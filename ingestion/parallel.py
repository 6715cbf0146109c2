"""A bounded pool of fetch tasks that may create more tasks as they learn about the data."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

T = TypeVar("T")

# A task returns what it fetched and the tasks that follow from it (next page, split slice).
Task = Callable[[], tuple[T, list["Task[T]"]]]


class TaskPool(Generic[T]):
    """Runs tasks on `workers` threads, at most `workers` at a time, yielding results in
    completion order. Memory stays bounded: a task is only started when a worker is free and
    results are handed on as they arrive. The first failure cancels what is queued and raises.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def run(self, tasks: Iterable[Task[T]]) -> Iterator[T]:
        queued: deque[Task[T]] = deque(tasks)
        running: set[Future[tuple[T, list[Task[T]]]]] = set()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="fetch") as executor:
            try:
                while queued or running:
                    while queued and len(running) < self.workers:
                        running.add(executor.submit(queued.popleft()))
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        result, follow_ups = future.result()
                        queued.extend(follow_ups)
                        yield result
            finally:
                queued.clear()
                for future in running:
                    future.cancel()
