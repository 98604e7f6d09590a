"""The command line: one module per verb group; ``main`` is the entry point."""
