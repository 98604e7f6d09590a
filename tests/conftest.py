"""Test-suite settings shared by every file."""

from hypothesis import settings

# The same examples on every run and machine: a CI failure reproduces locally, and CI never
# goes red on an example no earlier run drew. `--hypothesis-profile explore` draws new ones.
settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("default")
