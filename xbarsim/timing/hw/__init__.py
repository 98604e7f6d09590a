"""SimPy hardware components on an integer clock; each counts the actions it performs."""
