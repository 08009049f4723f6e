"""The LiberTEM Portal engine: datasets, masks, analyses and executors.

Plain Python + numpy. This package never imports Django and never reads settings: callers
pass plain arguments and callbacks.
"""

#: The engine's version (the project's, pyproject.toml); results of built-in analyses record it.
ENGINE_VERSION = "0.1.0"
