"""The SimPy environment of a run: a process may skip a wait that nothing can interrupt.

Actions booked by time (``clock.until``) often wait for a cycle before which nothing else is
scheduled. SimPy would schedule a timeout, pop it next and resume the process, nothing else
running in between. ``Environment.skip_to`` moves the clock there at once instead, when that is
certain: the process runs as the only callback of the event being processed (no other callback
of it is left to run at this cycle), and every scheduled event comes after the cycle (one at
the same cycle would run first: it was scheduled earlier). The run is the same, action for
action and cycle for cycle, with fewer events (``tests/test_environment.py``). ``step`` reads
SimPy's event queue (an internal: hence ``simpy>=4.1,<5``).
"""

from __future__ import annotations

import simpy

SKIP = True
"""Whether waits may be skipped (False: every wait is a timeout, as in SimPy; the equivalence
test)."""


_simpy_step = simpy.Environment.step
"""SimPy's own step (called as a plain function: ``super()`` costs a lookup per event)."""


class Environment(simpy.Environment):
    """``simpy.Environment`` whose lone callback may advance the clock (``skip_to``)."""

    def __init__(self) -> None:
        super().__init__()
        self._alone = False
        """Whether the callback running is the only one of the event being processed."""

    def skip_to(self, cycle: int) -> bool:
        """Move the clock to ``cycle`` now if no other action can come before it (see the
        module); return whether it moved (else the caller waits for a timeout)."""
        queue = self._queue
        if self._alone and (not queue or queue[0][0] > cycle) and SKIP:
            self._now = cycle
            return True
        return False

    def step(self) -> None:
        """``simpy.Environment.step``, noting whether the next event has a single callback."""
        queue = self._queue
        self._alone = bool(queue) and len(queue[0][3].callbacks) == 1
        try:
            _simpy_step(self)
        finally:
            self._alone = False
