"""Published chips only: ISAAC's area, power and peak throughput and PUMA's efficiencies.

Runs section 5 of ``benchmarks/validation.py`` (the script that writes ``docs/validation.md``)
and prints it, for a quick check after changing a chip config; exit status 1 if a check fails.
Usage: ``python benchmarks/validate_chips.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from validation import Checks, section_chips


def main() -> int:
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="xbarsim_chips_") as name:
        print(section_chips(Path(name), checks))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
