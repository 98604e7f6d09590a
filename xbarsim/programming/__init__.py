"""Cell programming data shared by the timing and functional models: how many write-verify
pulses a cell needs, and how often it fails to converge."""
