"""The crossbar multiply: one public wrapper (``crossbar_mvm(x, w, AnalogCrossbar)``) over the
bit-exact kernels.

``wrapper.py`` validates inputs and picks a kernel: ``lookup.py`` (lookup tables, whose inner
loop is the LLVM IR of ``llvm_ir.py``), ``bitplane.py`` (popcounts), ``float_lookup.py`` and
``float_path.py`` (noisy devices). See README.md here for how the fast path is re-validated.
"""

from xbarsim.functional.kernel.crossbar import AnalogCrossbar
from xbarsim.functional.kernel.wrapper import Method, crossbar_mvm, exact_mvm

__all__ = ["AnalogCrossbar", "Method", "crossbar_mvm", "exact_mvm"]
