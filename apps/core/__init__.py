"""The LiberTEM Portal engine: datasets, masks, analyses and executors.

Plain Python + numpy. This package never imports Django and never reads settings: callers
pass plain arguments and callbacks.
"""
