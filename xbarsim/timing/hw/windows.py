"""Resources booked by time that remember the windows they are reserved in.

Mesh links, the DRAM channel, and the static pipeline's tile ports and shift-and-add banks, are
booked when the engine knows the work, possibly for an earlier cycle than the simulation's (a
static chunk is timed once its last input rows are known, docs/design.md 6.2). A request takes
the earliest window, from the cycle it is made for, in which every resource it needs is free: it
may use a window an earlier request left idle (a router arbitrates packet by packet, so an idle
link serves whichever flow has data; a port serves whichever layer has a request). A resource
remembers its last ``WINDOWS_KEPT`` windows.

A booking is the engines' most frequent action. A process searches its first
``COMPILE_AFTER`` bookings in Python, on lists; then compiled (numba), on arrays, 2-4x faster
per booking but about 0.4 s to start once per process, which a small run would not earn back.
Both take the same windows (``tests/test_pipeline.py`` checks it on random bookings).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

from xbarsim.numba_settings import jit

WINDOWS_KEPT = 32
"""Reserved windows a resource remembers [A]: beyond them its oldest idle gap is filled (counted
as busy), which can only delay a request, and bounds the cost of a booking."""

COMPILE_AFTER = 50_000
"""Bookings a process makes in Python before its windows switch to the compiled search."""

_booked = [0]
"""Bookings made in Python by this process so far."""


def compiled_mode() -> bool:
    """Whether this process books with compiled code (numba then runs, and another compiled
    kernel starts in milliseconds rather than the first one's 0.4 s)."""
    return _booked[0] >= COMPILE_AFTER


class Windows:
    """Reserved windows ``[start, end)`` of each of ``count`` resources, in order, disjoint and
    not touching."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._impl: _ListWindows | _ArrayWindows = (
            _ArrayWindows(count) if compiled_mode() else _ListWindows(count))

    def __len__(self) -> int:
        return self.count

    @property
    def compiled(self) -> bool:
        """Whether the compiled search books these resources."""
        return isinstance(self._impl, _ArrayWindows)

    def compile(self) -> None:
        """Switch to the compiled search, keeping every window."""
        if isinstance(self._impl, _ListWindows):
            self._impl = _ArrayWindows.of(self._impl)

    def windows(self, i: int) -> list[tuple[int, int]]:
        """Resource ``i``'s reserved windows, in order."""
        return self._impl.windows(i)

    def reserve(self, ids: Sequence[int], now: int, cycles: int) -> int:
        """Reserve every resource of ``ids`` for ``cycles`` in their earliest common free
        window from cycle ``now``; return its start."""
        return self._search().reserve(ids, now, cycles)

    def reserve_each(self, ids: Sequence[int], cycles: Sequence[int], now: int) -> int:
        """Reserve resource ``ids[k]`` for ``cycles[k]`` from cycle ``now``, each on its own in
        its earliest free window; return the cycle the last of them ends (``now`` if none takes
        a cycle). (``reserve`` for one resource at a time: the static pipeline books every tile
        of a layer this way, chunk after chunk.)"""
        return self._search().reserve_each(ids, cycles, now)

    def reserve_many(self, id_sets: Sequence[Sequence[int]], nows: Sequence[int],
                     cycles: Sequence[int]) -> list[int]:
        """``reserve`` each request ``k`` in turn: the resources ``id_sets[k]`` for
        ``cycles[k]`` from cycle ``nows[k]`` (nothing when it takes no cycle or no resource);
        return the starts (``nows[k]`` for a request that reserves nothing). (Compiled code
        books many requests in one call on ``arrays``: ``mesh._book_trees``.)"""
        search = self._search(len(nows))
        return [search.reserve(ids, now, c) if c > 0 and ids else now
                for ids, now, c in zip(id_sets, nows, cycles)]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The compiled search's state, for compiled code that books these resources itself
        (``reserve_windows``): each resource's window starts and ends (rows), how many it
        keeps, and the cycle its last ends."""
        self.compile()
        impl = self._impl
        assert isinstance(impl, _ArrayWindows)
        return impl.starts, impl.ends, impl.counts, impl.free_at

    def _search(self, bookings: int = 1) -> _ListWindows | _ArrayWindows:
        """What searches the next ``bookings`` (counting the bookings made in Python)."""
        if isinstance(self._impl, _ListWindows):
            _booked[0] += bookings
            if compiled_mode():
                self.compile()
        return self._impl


class _ListWindows:
    """``Windows`` on plain lists, searched in Python."""

    def __init__(self, count: int) -> None:
        self.free_at = [0] * count
        """Cycle each resource's last window ends."""
        self.starts: list[list[int]] = [[] for _ in range(count)]
        self.ends: list[list[int]] = [[] for _ in range(count)]

    def windows(self, i: int) -> list[tuple[int, int]]:
        return list(zip(self.starts[i], self.ends[i]))

    def reserve(self, ids: Sequence[int], now: int, cycles: int) -> int:
        free_at, starts, ends = self.free_at, self.starts, self.ends
        start = now
        busy = [i for i in ids if free_at[i] > now]  # the others are idle from now on
        if busy:
            # round robin over the busy resources, sliding the start past every window that
            # overlaps, until each resource in turn has nothing in the way
            n, j, clear = len(busy), 0, 0
            while clear < n:
                i = busy[j]
                clear += 1
                if free_at[i] > start:
                    st, en = starts[i], ends[i]
                    k = bisect_right(en, start)
                    while k < len(st) and st[k] < start + cycles:
                        start = en[k]
                        clear = 1
                        k += 1
                j = j + 1 if j + 1 < n else 0
        end = start + cycles
        for i in ids:
            st, en = starts[i], ends[i]
            last = free_at[i]
            if start > last or not en:  # after its last window
                st.append(start)
                en.append(end)
                if len(st) > WINDOWS_KEPT:
                    en[0] = en[1]
                    del st[1], en[1]
                free_at[i] = end
            elif start == last:  # right after its last window
                en[-1] = free_at[i] = end
            else:
                _take_lists(st, en, bisect_right(st, start), start, end)
                free_at[i] = en[-1]
        return start

    def reserve_each(self, ids: Sequence[int], cycles: Sequence[int], now: int) -> int:
        free_at, starts, ends = self.free_at, self.starts, self.ends
        done = now
        for i, c in zip(ids, cycles):
            if c <= 0:
                continue
            st, en = starts[i], ends[i]
            start, k = now, len(st)
            if free_at[i] > now:  # slide past the windows in the way
                k = bisect_right(en, start)
                while k < len(st) and st[k] < start + c:
                    start = en[k]
                    k += 1
            _take_lists(st, en, k, start, start + c)
            free_at[i] = en[-1]
            if start + c > done:
                done = start + c
        return done


def _take_lists(st: list[int], en: list[int], k: int, start: int, end: int) -> None:
    """Mark ``[start, end)`` reserved in one resource's windows (starts ``st``, ends ``en``),
    ``k`` the index of the first window after it: merged with the windows it touches, and the
    oldest gap forgotten beyond ``WINDOWS_KEPT`` windows."""
    if k and en[k - 1] == start:  # extends the window before it
        en[k - 1] = end
        if k < len(st) and st[k] == end:  # and meets the one after it
            en[k - 1] = en[k]
            del st[k], en[k]
    elif k < len(st) and st[k] == end:  # joins the window after it
        st[k] = start
    else:
        st.insert(k, start)
        en.insert(k, end)
    if len(st) > WINDOWS_KEPT:
        en[0] = en[1]
        del st[1], en[1]


class _ArrayWindows:
    """``Windows`` on arrays, searched by compiled code: row ``i`` of ``starts`` and ``ends``
    holds resource ``i``'s first ``counts[i]`` windows."""

    def __init__(self, count: int) -> None:
        self.free_at = np.zeros(count, dtype=np.int64)
        self.starts = np.zeros((count, WINDOWS_KEPT + 1), dtype=np.int64)
        self.ends = np.zeros((count, WINDOWS_KEPT + 1), dtype=np.int64)
        self.counts = np.zeros(count, dtype=np.int64)
        self._ids: dict[int, tuple[Sequence[int], np.ndarray]] = {}
        """The id array of each resource set booked so far, by the identity of the set (the
        callers keep theirs: a route, a tile list); the set is held so its identity stays."""

    @classmethod
    def of(cls, lists: _ListWindows) -> _ArrayWindows:
        """The same windows as ``lists``."""
        out = cls(len(lists.free_at))
        out.free_at[:] = lists.free_at
        for i, (st, en) in enumerate(zip(lists.starts, lists.ends)):
            out.counts[i] = len(st)
            out.starts[i, :len(st)] = st
            out.ends[i, :len(en)] = en
        return out

    def windows(self, i: int) -> list[tuple[int, int]]:
        n = int(self.counts[i])
        return list(zip(self.starts[i, :n].tolist(), self.ends[i, :n].tolist()))

    def _array(self, ids: Sequence[int]) -> np.ndarray:
        known = self._ids.get(id(ids))
        if known is None or known[0] is not ids:
            known = self._ids[id(ids)] = (ids, np.array(ids, dtype=np.int64))
        return known[1]

    def reserve(self, ids: Sequence[int], now: int, cycles: int) -> int:
        return int(reserve_windows(self.starts, self.ends, self.counts, self.free_at,
                                   self._array(ids), now, cycles))

    def reserve_each(self, ids: Sequence[int], cycles: Sequence[int], now: int) -> int:
        return int(_reserve_each(self.starts, self.ends, self.counts, self.free_at,
                                 self._array(ids), np.asarray(cycles, dtype=np.int64), now))


@jit
def reserve_windows(starts: np.ndarray, ends: np.ndarray, counts: np.ndarray,
                    free_at: np.ndarray, ids: np.ndarray, now: int,
                    cycles: int) -> int:  # pragma: no cover (compiled)
    """``_ListWindows.reserve``, compiled (on the arrays of ``Windows.arrays``)."""
    start = now
    busy = np.empty(len(ids), dtype=np.int64)  # the others are idle from now on
    n = 0
    for i in ids:
        if free_at[i] > now:
            busy[n] = i
            n += 1
    # round robin over the busy resources, sliding the start past every window that overlaps,
    # until each resource in turn has nothing in the way
    j, clear = 0, 0
    while clear < n:
        i = busy[j]
        clear += 1
        if free_at[i] > start:
            k = _after(ends[i], counts[i], start)
            while k < counts[i] and starts[i, k] < start + cycles:
                start = ends[i, k]
                clear = 1
                k += 1
        j = j + 1 if j + 1 < n else 0
    for i in ids:
        k = counts[i] if start >= free_at[i] else _after(starts[i], counts[i], start)
        _take(starts[i], ends[i], counts, i, k, start, start + cycles)
        free_at[i] = ends[i, counts[i] - 1]
    return start


@jit
def _reserve_each(starts: np.ndarray, ends: np.ndarray, counts: np.ndarray,
                  free_at: np.ndarray, ids: np.ndarray, cycles: np.ndarray,
                  now: int) -> int:  # pragma: no cover (compiled)
    """``_ListWindows.reserve_each``, compiled."""
    done = now
    for m in range(len(ids)):
        i, c = ids[m], cycles[m]
        if c <= 0:
            continue
        start, k = now, counts[i]
        if free_at[i] > now:  # slide past the windows in the way
            k = _after(ends[i], counts[i], start)
            while k < counts[i] and starts[i, k] < start + c:
                start = ends[i, k]
                k += 1
        _take(starts[i], ends[i], counts, i, k, start, start + c)
        free_at[i] = ends[i, counts[i] - 1]
        done = max(done, start + c)
    return done


@jit
def _after(row: np.ndarray, n: int, cycle: int) -> int:  # pragma: no cover (compiled)
    """Index of the first of the ``n`` sorted values of ``row`` above ``cycle``."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if cycle < row[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@jit
def _take(st: np.ndarray, en: np.ndarray, counts: np.ndarray, i: int, k: int, start: int,
          end: int) -> None:  # pragma: no cover (compiled)
    """Mark ``[start, end)`` reserved in resource ``i``'s windows (starts ``st``, ends ``en``),
    ``k`` the index of the first window after it: merged with the windows it touches, and the
    oldest gap forgotten beyond ``WINDOWS_KEPT`` windows."""
    n = counts[i]
    if k > 0 and en[k - 1] == start:  # extends the window before it
        en[k - 1] = end
        if k < n and st[k] == end:  # and meets the one after it
            en[k - 1] = en[k]
            _drop(st, en, k, n)
            n -= 1
    elif k < n and st[k] == end:  # joins the window after it
        st[k] = start
    else:
        for m in range(n, k, -1):
            st[m] = st[m - 1]
            en[m] = en[m - 1]
        st[k] = start
        en[k] = end
        n += 1
    if n > WINDOWS_KEPT:  # forget the oldest gap: the first two windows become one
        en[0] = en[1]
        _drop(st, en, 1, n)
        n -= 1
    counts[i] = n


@jit
def _drop(st: np.ndarray, en: np.ndarray, k: int, n: int) -> None:  # pragma: no cover
    """Remove window ``k`` of the ``n`` in a row."""
    for m in range(k, n - 1):
        st[m] = st[m + 1]
        en[m] = en[m + 1]
