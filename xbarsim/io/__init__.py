"""File formats, in one place: YAML and NPZ reading, CSV writing, atomic replacement, the
example-basis cache. Only this package opens files; callers decide where."""
