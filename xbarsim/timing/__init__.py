"""The cycle-level timing model: SimPy hardware, the dataflows over one engine, energy, and
``simulate`` (Arch + workload + options -> result)."""
