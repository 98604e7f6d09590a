"""xbarsim: a cycle-level simulator of RRAM-crossbar DNN accelerators."""

__version__ = "0.1.0"
