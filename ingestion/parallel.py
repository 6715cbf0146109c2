"""A bounded pool of fetch tasks that may create more tasks as they learn about the data."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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
    handed on: the failed one, the ones running or queued then."""

    def __init__(self, cause: BaseException, unfinished: list[Task[Any]]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.unfinished = unfinished


class TaskPool(Generic[T]):
    """Runs tasks on `workers` threads, at most `workers` at a time, yielding results in
    completion order. Memory stays bounded: a task is only started when a worker is free and
    results are handed on as they arrive. The first failure cancels what is queued and raises
    `TasksFailed`, which names every task not handed on."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def run(self, tasks: Iterable[Task[T]]) -> Iterator[T]:
        queued: deque[Task[T]] = deque(tasks)
        running: dict[Future[tuple[T, list[Task[T]]]], Task[T]] = {}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="fetch") as executor:
            try:
                while queued or running:
                    while queued and len(running) < self.workers:
                        task = queued.popleft()
                        running[executor.submit(task.run)] = task
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        try:
                            result, follow_ups = future.result()
                        except Exception as error:
                            unfinished = [task, *running.values(), *queued]
                            raise TasksFailed(error, unfinished) from error
                        queued.extend(follow_ups)
                        yield result
            finally:
                queued.clear()
                for future in running:
                    future.cancel()
