"""Where sweep points run: in-process, a local process pool, or a Dask distributed cluster.

Each backend is a context manager whose ``run(points)`` yields ``(index, Outcome)`` as points
finish, in any order. ``run_point`` never raises: every failure becomes an error outcome, and a
local worker process that dies becomes its point's error outcome too.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures import TimeoutError as FuturesTimeoutError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType
from typing import Any, Protocol

from xbarsim.config import with_crossbars
from xbarsim.errors import XbarsimError, clip
from xbarsim.inputs import RunInputs, load_run_inputs
from xbarsim.io.csv_file import check_unchanged
from xbarsim.sweep.accuracy import point_accuracy
from xbarsim.sweep.points import Point
from xbarsim.timing.simulate import simulate

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
"""How long to try reaching a Dask scheduler before giving up."""

HANDSHAKE_TIMEOUT_S = 10
"""How long reaching a Dask scheduler and its protocol handshake may take in all (a silent
listener or a web server on the port fails here instead of hanging)."""

IN_FLIGHT_PER_JOB = 2
"""Points submitted to the pool per worker at a time: enough to keep workers busy, few enough that
the points lost when a worker dies are known."""

BROKEN_WAIT_S = 60
"""How long to wait for a broken pool to fail its remaining points (it does so at once)."""

STOP_JOIN_S = 10
"""How long a stopped pool's manager thread gets to notice its terminated workers and exit."""

PR_SET_PDEATHSIG = 1
"""Linux ``prctl`` option: a signal for this process when its parent dies."""


@dataclass(frozen=True)
class Outcome:
    """What one point produced: the summary row, or an error message."""

    summary: dict[str, Any] | None
    error: str
    """Empty when the point succeeded."""
    wall_s: float


@lru_cache(maxsize=64)
def checked_inputs(arch: str, overrides: tuple[str, ...], workload: str, basis: str | None,
                   sha256: tuple[str, str, str | None]) -> RunInputs:
    """Each worker loads its inputs once per (files, overrides), and only if the files still
    hold the bytes the sweep was set up with (checked before and after loading): a file edited
    while a sweep runs fails the points that would read it, naming it."""
    files = [(arch, sha256[0]), (workload, sha256[1]), (basis, sha256[2])]
    check_unchanged(files)
    inputs = load_run_inputs(arch, workload, overrides, basis)
    check_unchanged(files)
    return inputs


def run_point(point: Point) -> Outcome:
    """Simulate one point; user-input errors and unexpected exceptions become error outcomes."""
    began = time.perf_counter()
    try:
        inputs = checked_inputs(point.arch, point.overrides, point.workload, point.basis,
                                point.sha256)
        options = dataclasses.replace(point.options, basis=inputs.basis)
        result = simulate(with_crossbars(inputs.arch, point.crossbars), inputs.workload, options)
        summary = result.summary
        if point.accuracy is not None:
            summary = {**summary, **point_accuracy(inputs.arch, point.workload,
                                                   point.options.dataflow, point.basis,
                                                   point.accuracy, point.options.seed)}
    except XbarsimError as err:
        return Outcome(None, one_line(str(err)), time.perf_counter() - began)
    except Exception as exc:  # a bug in one point must not end the sweep
        log.debug("point %s failed", point.key, exc_info=True)
        return Outcome(None, failure_text(exc), time.perf_counter() - began)
    return Outcome(summary, "", time.perf_counter() - began)


def failure_text(exc: BaseException) -> str:
    """``Type: message`` on one line (an error cell is always one CSV line)."""
    return one_line(f"{type(exc).__name__}: {exc}")


def one_line(text: str) -> str:
    """Collapse newlines so the message fits one CSV line."""
    return " ".join(text.split())


class Backend(Protocol):
    """Runs points; entering connects (errors early), leaving releases the workers."""

    def __enter__(self) -> Backend: ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def run(self, points: Sequence[Point]) -> Iterator[tuple[int, Outcome]]: ...


class InlineBackend:
    """Runs points one after another in this process (``--jobs 1``)."""

    def __enter__(self) -> InlineBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, points: Sequence[Point]) -> Iterator[tuple[int, Outcome]]:
        """Yield each point's outcome in order."""
        for i, point in enumerate(points):
            yield i, run_point(point)


class PoolBackend:
    """Local worker processes (``ProcessPoolExecutor``, forkserver: fork is unsafe once threads
    exist). A worker that dies costs only its own point: the pool is replaced, the points that were
    in flight are retried one per fresh single-worker pool (so a death is pinned on its point and
    becomes that point's error row), and the rest go on in a fresh pool."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pools: list[ProcessPoolExecutor] = []

    def __enter__(self) -> PoolBackend:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        for pool in list(self.pools):  # interrupted or failed: stop the workers now
            self._close(pool, stop=kind is not None)

    def run(self, points: Sequence[Point]) -> Iterator[tuple[int, Outcome]]:
        """Yield outcomes as points complete, largest chips first (their points take longest)."""
        # Long points start early and short ones fill the gaps at the end: workers finish together.
        order = sorted(range(len(points)), key=lambda i: -points[i].crossbars)
        while order:
            suspects, order = yield from self._together(points, order)
            yield from self._alone(points, suspects)

    def _together(self, points: Sequence[Point], order: Sequence[int]) -> Generator[
            tuple[int, Outcome], None, tuple[list[int], list[int]]]:
        """Run points on one pool until done or a worker dies; return (in flight, not started)."""
        pool = self._open(min(self.jobs, len(order)))
        waiting = deque(order)
        running: dict[Future[Outcome], int] = {}
        suspects: list[int] = []
        broken = False
        while (waiting or running) and not broken:
            while waiting and len(running) < IN_FLIGHT_PER_JOB * self.jobs and not broken:
                try:
                    future = pool.submit(run_point, points[waiting[0]])
                except BrokenProcessPool:
                    broken = True
                else:
                    running[future] = waiting.popleft()
            for future in wait(running, return_when=FIRST_COMPLETED).done:
                if isinstance(future.exception(), BrokenProcessPool):
                    suspects.append(running.pop(future))
                    broken = True
                else:
                    yield running.pop(future), _outcome(future)
        if broken:  # the pool fails every other running point at once: keep those that finished
            finished, lost = wait(running, timeout=BROKEN_WAIT_S)
            for future in finished:
                if isinstance(future.exception(), BrokenProcessPool):
                    suspects.append(running[future])
                else:
                    yield running[future], _outcome(future)
            suspects += [running[future] for future in lost]
            log.warning("a worker process died: retrying its %d in-flight point(s) one per "
                        "process", len(suspects))
        self._close(pool, stop=broken)
        position = {i: n for n, i in enumerate(order)}
        return sorted(suspects, key=position.__getitem__), list(waiting)

    def _alone(self, points: Sequence[Point],
               indices: Sequence[int]) -> Iterator[tuple[int, Outcome]]:
        """Run each point in a one-worker pool of its own (``jobs`` at a time): a worker that
        dies there is that point's error."""
        waiting = deque(indices)
        running: dict[Future[Outcome], tuple[int, ProcessPoolExecutor, list[Any]]] = {}
        while waiting or running:
            while waiting and len(running) < self.jobs:
                i = waiting.popleft()
                pool = self._open(1)
                future = pool.submit(run_point, points[i])
                running[future] = (i, pool, list(_processes(pool).values()))
            for future in wait(running, return_when=FIRST_COMPLETED).done:
                i, pool, processes = running.pop(future)
                self._close(pool, stop=False)
                if isinstance(future.exception(), BrokenProcessPool):
                    yield i, Outcome(None, death_text(processes), 0.0)
                else:
                    yield i, _outcome(future)

    def _open(self, workers: int) -> ProcessPoolExecutor:
        """A fresh pool whose workers ignore Ctrl-C and hang-ups and die with their parent."""
        pool = ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker)
        self.pools.append(pool)
        return pool

    def _close(self, pool: ProcessPoolExecutor, stop: bool) -> None:
        """Shut a pool down; with ``stop``, terminate its workers first instead of waiting."""
        if stop:
            for process in _processes(pool).values():
                process.terminate()
        pool.shutdown(wait=not stop, cancel_futures=True)
        if stop:  # let the pool's manager thread see its dead workers and close its pipe now:
            # exiting while it does so races with the interpreter's own exit hook for pools
            # (an OSError traceback from concurrent.futures on Python < 3.12)
            manager = getattr(pool, "_executor_manager_thread", None)
            if manager is not None:
                manager.join(timeout=STOP_JOIN_S)
        self.pools.remove(pool)


def _processes(pool: ProcessPoolExecutor) -> dict[int, Any]:
    """The pool's worker processes by pid (a private attribute: empty if it ever goes away)."""
    return dict(getattr(pool, "_processes", None) or {})


def death_text(processes: Sequence[Any]) -> str:
    """``worker process died (signal 9, SIGKILL)`` or ``(exit code N)``, from its exit code."""
    codes = [p.exitcode for p in processes if p.exitcode is not None]
    if not codes:
        return "worker process died"
    if codes[0] < 0:
        try:
            name = f", {signal.Signals(-codes[0]).name}"
        except ValueError:
            name = ""
        return f"worker process died (signal {-codes[0]}{name})"
    return f"worker process died (exit code {codes[0]})"


def _init_worker() -> None:
    """Leave Ctrl-C and hang-ups to the parent (it stops the sweep and keeps finished rows) and
    exit when the parent dies, whatever killed it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _die_with_parent()


def _die_with_parent() -> None:
    """Exit as soon as the sweep's process is gone, whatever killed it.

    A thread waits on the parent's sentinel (a pipe that closes when it dies; with forkserver the
    sweep's process is not the worker's OS parent, and the forkserver itself waits for its
    workers). On Linux the kernel also kills a worker whose OS parent dies (``PR_SET_PDEATHSIG``),
    even while a point holds the GIL.
    """
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), name="xbarsim-parent-watch",
                         daemon=True).start()
    if sys.platform.startswith("linux"):
        ppid = os.getppid()
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            return
        if os.getppid() != ppid:  # it died before the request took effect
            os._exit(1)


def _exit_with(sentinel: Any) -> None:
    """Block until the parent's sentinel is ready (the parent is gone), then exit at once."""
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _context() -> multiprocessing.context.BaseContext:
    """forkserver where available (workers import xbarsim once, before any thread), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["xbarsim.sweep.backends"])
        return ctx
    return multiprocessing.get_context("spawn")


def _outcome(future: Future[Outcome] | Any) -> Outcome:
    """The future's outcome; an exception (even ``SystemExit`` in a worker) is its point's error."""
    try:
        error = future.exception()
        if error is None:
            result: Outcome = future.result()
            return result
    except Exception as exc:
        error = exc
    return Outcome(None, failure_text(error), 0.0)


class DaskBackend:
    """Points as tasks on a Dask distributed cluster: an existing one or a loopback LocalCluster."""

    def __init__(self, address: str | None = None, local_workers: int | None = None) -> None:
        self.address = address
        self.local_workers = local_workers
        self.cluster: Any = None
        self.client: Any = None

    def __enter__(self) -> DaskBackend:
        distributed = _import_distributed()
        if self.local_workers is not None:
            self.cluster = distributed.LocalCluster(
                n_workers=self.local_workers, threads_per_worker=1, host="127.0.0.1",
                processes=True, dashboard_address=None, silence_logs=logging.ERROR)
        else:
            _check_address(distributed, str(self.address))
            _handshake(distributed, str(self.address))
        target = self.cluster if self.cluster is not None else self.address
        try:
            self.client = distributed.Client(target, timeout=f"{CONNECT_TIMEOUT_S}s",
                                             set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self._close()
            where = self.address or "the local cluster"
            raise XbarsimError(f"cannot reach the Dask scheduler at {where} "
                               f"({first_line(exc)})", key="--scheduler") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def run(self, points: Sequence[Point]) -> Iterator[tuple[int, Outcome]]:
        """Submit every point as a task; yield outcomes as they complete."""
        distributed = _import_distributed()
        futures = {self.client.submit(run_point, p, pure=False): i for i, p in enumerate(points)}
        try:
            for future in distributed.as_completed(futures, loop=self.client.loop):
                yield futures[future], _outcome(future)
        finally:
            self.client.cancel(list(futures))


def _import_distributed() -> Any:
    try:
        import dask.distributed as distributed
    except ImportError:
        raise XbarsimError("needs dask.distributed (pip install 'xbarsim[dask]')",
                           key="--scheduler") from None
    return distributed


def _check_address(distributed: Any, address: str) -> None:
    """A scheduler address must be plain TCP and name a host and a port (``tcp://HOST:PORT``)."""
    try:
        scheme, location = distributed.comm.parse_address(address)
        if scheme != "tcp":
            raise ValueError(f"the {clip(scheme)}:// scheme is not supported")
        distributed.comm.parse_host_port(location)
    except ValueError as exc:
        raise XbarsimError(f"'{clip(address)}': {exc} (expected tcp://HOST:PORT)",
                           key="--scheduler") from None


def _handshake(distributed: Any, address: str) -> None:
    """Connect and complete the Dask handshake within ``HANDSHAKE_TIMEOUT_S``, or fail on one line.

    ``Client(timeout=...)`` bounds the TCP connect but not the handshake after it, so a port that
    accepts and never answers would hang the sweep. The probe runs on its own event loop in a
    thread (the caller may be inside a running loop, e.g. Jupyter).
    """
    async def probe() -> None:
        comm = await asyncio.wait_for(
            distributed.comm.connect(address, timeout=CONNECT_TIMEOUT_S), HANDSHAKE_TIMEOUT_S)
        await comm.close()

    thread = ThreadPoolExecutor(1, thread_name_prefix="xbarsim-dask-probe")
    try:
        thread.submit(asyncio.run, probe()).result(timeout=HANDSHAKE_TIMEOUT_S + 5)
    except (TimeoutError, asyncio.TimeoutError, FuturesTimeoutError):
        raise XbarsimError(f"cannot reach the Dask scheduler at {clip(address)} (no Dask "
                           f"handshake within {HANDSHAKE_TIMEOUT_S} s: is a Dask scheduler "
                           "listening there?)", key="--scheduler") from None
    except Exception as exc:
        raise XbarsimError(f"cannot reach the Dask scheduler at {clip(address)} "
                           f"({first_line(exc)})", key="--scheduler") from None
    finally:
        thread.shutdown(wait=False)


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def open_backend(jobs: int | None = None, scheduler: str | None = None,
                 dask_local: int | None = None) -> Backend:
    """The backend for the options: at most one of jobs, scheduler and dask_local."""
    if sum(x is not None for x in (jobs, scheduler, dask_local)) > 1:
        raise XbarsimError("give at most one of --jobs, --scheduler and --dask-local",
                           key="--jobs")
    if scheduler is not None:
        return DaskBackend(address=scheduler)
    if dask_local is not None:
        if dask_local < 1:
            raise XbarsimError(f"got {dask_local} (expected >= 1 workers)", key="--dask-local")
        return DaskBackend(local_workers=dask_local)
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if jobs < 1:
        raise XbarsimError(f"got {jobs} (expected >= 1)", key="--jobs")
    return InlineBackend() if jobs == 1 else PoolBackend(jobs)
