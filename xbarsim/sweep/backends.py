"""Where sweep points run: in-process, a local process pool, or a Dask distributed cluster.

Each backend is a context manager whose ``run(points)`` yields ``(index, Outcome)`` as points
finish, in any order. ``run_point`` never raises: every failure becomes an error outcome.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType
from typing import Any, Protocol

from xbarsim.config import with_crossbars
from xbarsim.errors import XbarsimError
from xbarsim.inputs import RunInputs, load_run_inputs
from xbarsim.sweep.points import Point
from xbarsim.timing.simulate import simulate

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
"""How long to try reaching a Dask scheduler before giving up."""


@dataclass(frozen=True)
class Outcome:
    """What one point produced: the summary row, or an error message."""

    summary: dict[str, Any] | None
    error: str
    """Empty when the point succeeded."""
    wall_s: float


@lru_cache(maxsize=64)
def _inputs(arch: str, overrides: tuple[str, ...], workload: str, basis: str | None) -> RunInputs:
    """Each worker loads its inputs once per (arch file, overrides, workload file, basis file)."""
    return load_run_inputs(arch, workload, overrides, basis)


def run_point(point: Point) -> Outcome:
    """Simulate one point; user-input errors and unexpected exceptions become error outcomes."""
    began = time.perf_counter()
    try:
        inputs = _inputs(point.arch, point.overrides, point.workload, point.basis)
        options = dataclasses.replace(point.options, basis=inputs.basis)
        result = simulate(with_crossbars(inputs.arch, point.crossbars), inputs.workload, options)
    except XbarsimError as err:
        return Outcome(None, one_line(str(err)), time.perf_counter() - began)
    except Exception as exc:  # a bug in one point must not end the sweep
        log.debug("point %s failed", point.key, exc_info=True)
        return Outcome(None, failure_text(exc), time.perf_counter() - began)
    return Outcome(result.summary, "", time.perf_counter() - began)


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
    """A ``ProcessPoolExecutor`` started with forkserver (fork is unsafe once threads exist)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> PoolBackend:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if self.pool is None:
            return
        if kind is not None:  # interrupted or failed: stop the workers now, not after the queue
            for process in dict(getattr(self.pool, "_processes", None) or {}).values():
                process.terminate()
        self.pool.shutdown(wait=kind is None, cancel_futures=True)

    def run(self, points: Sequence[Point]) -> Iterator[tuple[int, Outcome]]:
        """Submit every point; yield outcomes as they complete."""
        if not points:
            return
        self.pool = ProcessPoolExecutor(min(self.jobs, len(points)), mp_context=_context(),
                                        initializer=_ignore_interrupts)
        # Largest chips first (the basis dataflow's cost grows with crossbars): long points start
        # early and short ones fill the gaps at the end, so workers finish together.
        order = sorted(range(len(points)), key=lambda i: -points[i].crossbars)
        futures = {self.pool.submit(run_point, points[i]): i for i in order}
        for future in as_completed(futures):
            broken = future.exception()
            if isinstance(broken, BrokenProcessPool):
                raise XbarsimError(f"a worker process died ({first_line(broken)}); "
                                   "finished rows are saved (rerun with --resume)", key="--jobs")
            yield futures[future], _outcome(future)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which stops submitting and keeps finished rows."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _context() -> multiprocessing.context.BaseContext:
    """forkserver where available (workers import xbarsim once, before any thread), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["xbarsim.sweep.backends"])
        return ctx
    return multiprocessing.get_context("spawn")


def _outcome(future: Future[Outcome] | Any) -> Outcome:
    """The future's outcome; a crashed worker becomes that point's error."""
    try:
        result: Outcome = future.result()
        return result
    except Exception as exc:
        return Outcome(None, failure_text(exc), 0.0)


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
    """A scheduler address must name a host and a port (``tcp://HOST:PORT``)."""
    try:
        distributed.comm.parse_host_port(distributed.comm.parse_address(address)[1])
    except ValueError as exc:
        raise XbarsimError(f"'{address}': {exc} (expected tcp://HOST:PORT)",
                           key="--scheduler") from None


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
