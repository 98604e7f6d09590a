"""A progress bar while numba compiles the analog kernels (the first run after installing takes
about 10 s; later runs load the compiled code from numba's cache and show nothing).

numba broadcasts a ``numba:compile`` event around every actual compilation, not around a load
from its cache (numba's developer "Event API"); nested events are the functions a kernel
inlines or calls. The bar counts compiled functions and shows the time elapsed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from numba.core import event
from tqdm import tqdm


class CompileBar(event.Listener):
    """Opens a bar when the outermost compilation starts, counts each compiled function and
    closes the bar when the outermost one ends."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = enabled
        """``None``: only on a terminal (tqdm's rule)."""
        self.depth = 0
        self.bar: Any = None
        self.compiled = 0
        """Functions compiled while the listener was installed."""

    def on_start(self, event: event.Event) -> None:
        if self.depth == 0:
            self.bar = tqdm(desc="compiling the analog kernels (first run only; numba caches "
                                 "them)", unit=" functions", file=sys.stderr,
                            disable=None if self.enabled is None else not self.enabled,
                            leave=False)
        self.depth += 1

    def on_end(self, event: event.Event) -> None:
        self.depth -= 1
        self.compiled += 1
        self.bar.update(1)
        if self.depth == 0:
            self.bar.close()
            self.bar = None


@contextmanager
def compile_progress(enabled: bool | None = None) -> Iterator[CompileBar]:
    """Show ``CompileBar`` for any kernel numba compiles while the block runs."""
    listener = CompileBar(enabled)
    with event.install_listener("numba:compile", listener):
        yield listener
