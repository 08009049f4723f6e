"""Mask stacks built on the dask worker from the analysis that describes them.

A :class:`~apps.core.analyses.base.MaskTask` travels with every partition of a dask run
(client -> scheduler -> worker, pickled on each hop). Its mask stack is the largest part of it
(a ring on 256 x 256 frames: 262 KB of float32), while the analysis that builds it is a few
hundred bytes of parameters. So a task whose analysis pickles much smaller than its masks
carries the analysis (its *recipe*) instead, and each worker process builds the stack once per
recipe and keeps the last few (:func:`stack_for`): the same code on the same parameters, so the
same bits as the driver's stack.
"""

from __future__ import annotations

import copy
import pickle
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.core.analyses.base import MaskAnalysis
    from apps.core.masks import MaskStack

#: A recipe is sent instead of the masks when it is at most this fraction of their bytes.
RECIPE_SHARE = 0.25
#: The stacks a worker process keeps (drags of one ring make a new stack each; a few of them
#: run at once in the portal), and their bytes at most.
KEPT_STACKS = 8
KEPT_BYTES = 256 << 20

_kept: OrderedDict[bytes, MaskStack] = OrderedDict()
_lock = threading.Lock()


def recipe_of(analysis: MaskAnalysis, stack: MaskStack) -> bytes | None:
    """``analysis`` pickled without its built masks, or None when that is not much smaller
    than ``stack`` (user masks are parameters) or cannot be pickled."""
    bare = copy.copy(analysis)
    vars(bare).pop("masks", None)  # functools.cached_property keeps it in the instance
    try:
        recipe = pickle.dumps(bare, protocol=5)
    except Exception:  # an analysis holding something unpicklable: send the masks
        return None
    return recipe if len(recipe) <= RECIPE_SHARE * stack.masks().nbytes else None


def stack_for(recipe: bytes) -> MaskStack:
    """The mask stack of the analysis pickled in ``recipe``, built once per process."""
    with _lock:
        stack = _kept.get(recipe)
        if stack is not None:
            _kept.move_to_end(recipe)
            return stack
    # the driver pickled it, as it pickled the task that carries it: no new source of pickles
    stack = pickle.loads(recipe).mask_stack()  # noqa: S301
    with _lock:
        stack = _kept.setdefault(recipe, stack)
        _kept.move_to_end(recipe)
        while len(_kept) > KEPT_STACKS or (
            len(_kept) > 1 and sum(s.masks().nbytes for s in _kept.values()) > KEPT_BYTES
        ):
            _kept.popitem(last=False)
    return stack
