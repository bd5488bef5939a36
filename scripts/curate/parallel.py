"""Work spread over the machine's cores in forked processes, where it is safe and pays off: the same
calls in this process otherwise (one core, another thread running, no ``fork``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_MOST: list[int] = []  # the most processes workers() gives in this process: set by limit()


def limit(most: int) -> None:
    """Give at most ``most`` processes from now on in this process: one that works beside another busy
    one (the history computed while the site builds: :class:`curate.history.Background`) leaves it
    the other cores."""
    _MOST[:] = [max(1, most)]


def workers(n_items: int, minimum: int) -> int:
    """How many processes to use for ``n_items``: 1 below ``minimum`` items (starting workers would
    cost more), when there is one core, when another thread runs (forking a threaded process can
    deadlock) or when this platform cannot fork; at most what :func:`limit` set."""
    import multiprocessing
    import threading

    cpus = os.cpu_count() or 1
    if (
        n_items < minimum
        or cpus < 2
        or threading.active_count() > 1
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 1
    return min(cpus, *_MOST) if _MOST else cpus


def chunks(items: Sequence[T], n: int) -> list[Sequence[T]]:
    """``items`` cut into at most ``n`` contiguous runs of (nearly) equal length."""
    size = max(1, -(-len(items) // max(1, n)))
    return [items[i : i + size] for i in range(0, len(items), size)]


_TASK: list[Any] = []  # the function forked workers run: inherited, never pickled


def _run_task(chunk: Any) -> Any:
    return _TASK[0](chunk)


def fork_map(fn: Callable[[Sequence[T]], R], runs: list[Sequence[T]], jobs: int) -> list[R]:
    """``[fn(r) for r in runs]``, in ``jobs`` forked processes when more than one (``fn`` need not
    pickle; what it returns must)."""
    if jobs <= 1 or len(runs) <= 1:
        return [fn(r) for r in runs]
    import multiprocessing

    _TASK[:] = [fn]
    try:
        with multiprocessing.get_context("fork").Pool(min(jobs, len(runs))) as pool:
            return pool.map(_run_task, runs)
    finally:
        _TASK.clear()


def send_answer(send: Any, work: Callable[[], Any]) -> None:
    """In a forked process: what ``work()`` returns, or the exception it raised, sent on the pipe end
    ``send`` (an exception that does not pickle as its text), for :func:`answer_of` in the parent."""
    answer: object
    try:
        answer = work()
    except BaseException as exc:  # the parent raises it (or says what it was)
        answer = exc
    try:
        send.send(answer)
    except Exception:  # an exception that does not pickle
        send.send(f"{type(answer).__name__}: {answer}")
    finally:
        send.close()


def answer_of(process: Any, receive: Any) -> Any:
    """What a forked ``process`` sent on the pipe end ``receive`` (None when it ended without sending),
    once it has exited; an exception it sent is raised here (the writers beside the build:
    ``build.EnvWriter``, ``history.Background``)."""
    try:
        try:
            answer = receive.recv()
        except EOFError:
            answer = None
        process.join()
    finally:
        receive.close()
    if isinstance(answer, BaseException):
        raise answer
    return answer
