"""Resources booked by time that remember the windows they are reserved in.

Mesh links, the DRAM channel, and the static pipeline's tile ports and shift-and-add banks, are
booked when the engine knows the work, possibly for an earlier cycle than the simulation's (a
static chunk is timed once its last input rows are known, docs/design.md 6.2). A request takes
the earliest window, from the cycle it is made for, in which every resource it needs is free: it
may use a window an earlier request left idle (a router arbitrates packet by packet, so an idle
link serves whichever flow has data; a port serves whichever layer has a request). A resource
remembers its last ``WINDOWS_KEPT`` windows.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

WINDOWS_KEPT = 32
"""Reserved windows a resource remembers [A]: beyond them its oldest idle gap is filled (counted
as busy), which can only delay a request, and bounds the cost of a booking."""


class Windows:
    """Reserved windows ``[start, end)`` of each of ``count`` resources, in order, disjoint and
    not touching; plain lists, since a booking is the engines' most frequent action."""

    def __init__(self, count: int) -> None:
        self.free_at = [0] * count
        """Cycle each resource's last window ends."""
        self._starts: list[list[int]] = [[] for _ in range(count)]
        self._ends: list[list[int]] = [[] for _ in range(count)]

    def __len__(self) -> int:
        return len(self.free_at)

    def reserve(self, ids: Sequence[int], now: int, cycles: int) -> int:
        """Reserve every resource of ``ids`` for ``cycles`` in their earliest common free
        window from cycle ``now``; return its start."""
        free_at, starts, ends = self.free_at, self._starts, self._ends
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
                _take(st, en, bisect_right(st, start), start, end)
                free_at[i] = en[-1]
        return start

    def reserve_each(self, ids: Sequence[int], cycles: Sequence[int], now: int) -> int:
        """Reserve resource ``ids[k]`` for ``cycles[k]`` from cycle ``now``, each on its own in
        its earliest free window; return the cycle the last of them ends (``now`` if none takes
        a cycle). (``reserve`` for one resource, without its search over several: the static
        pipeline books every tile of a layer this way, chunk after chunk.)"""
        free_at, starts, ends = self.free_at, self._starts, self._ends
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
            _take(st, en, k, start, start + c)
            free_at[i] = en[-1]
            if start + c > done:
                done = start + c
        return done


def _take(st: list[int], en: list[int], k: int, start: int, end: int) -> None:
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
