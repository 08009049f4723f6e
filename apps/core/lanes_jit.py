"""Sixteen float32 (or float64) lanes as one value in numba-compiled loops.

numba types a loop's numbers as scalars; LLVM keeps a sum in a vector register only when its
loop vectoriser turns a scalar reduction into lanes, which then have to be added across at the
loop's end. :data:`lanes` is a value of sixteen float32 lanes (LLVM's ``<16 x float>``: one
AVX-512 register, or two AVX2 ones), so a loop can keep, for one frame, the running sums of
sixteen masks in registers from pixel to pixel, with no sum across lanes at all. The
operations are the few a mask product needs; each compiles to one or two instructions.
:data:`wide_lanes` is the same for sixteen float64 lanes (two AVX-512 registers), for sums
that have to be float64 (:mod:`apps.core.csr_lanes_jit`).
:func:`prefetch` asks for a cache line ahead of its use, which numba cannot say either.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

#: Lanes per value: sixteen float32, one 512-bit register.
WIDTH = 16

_FLOATS = ir.VectorType(ir.FloatType(), WIDTH)
_DOUBLES = ir.VectorType(ir.DoubleType(), WIDTH)


class Lanes(types.Type):
    """The numba type of sixteen float32 lanes."""

    def __init__(self) -> None:
        super().__init__(name="Lanes16xFloat32")


lanes = Lanes()


@register_model(Lanes)
class _LanesModel(models.PrimitiveModel):
    def __init__(self, dmm: Any, fe_type: Lanes) -> None:
        super().__init__(dmm, fe_type, _FLOATS)


def _element_pointer(context: Any, builder: Any, array_type: Any, array: Any, index: Any) -> Any:
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [index], inbounds=True)


def _spread(builder: Any, vector: Any, x: Any) -> Any:
    """The scalar ``x`` in every lane of a ``vector``."""
    undefined = ir.Constant(vector, ir.Undefined)
    first = builder.insert_element(undefined, x, ir.Constant(ir.IntType(32), 0))
    spread = ir.Constant(ir.VectorType(ir.IntType(32), WIDTH), [0] * WIDTH)
    return builder.shuffle_vector(first, undefined, spread)


def _fused(builder: Any, vector: Any, name: str, args: Any) -> Any:
    """``args[2] + args[0] * args[1]`` (a scalar times lanes, plus lanes), one rounding."""
    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vector, [vector, vector, vector]), name
    )
    return builder.call(fma, [_spread(builder, vector, args[0]), args[1], args[2]])


@intrinsic
def zeros(typingctx: Any) -> Any:
    """Sixteen lanes of zero."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return ir.Constant(_FLOATS, None)

    return lanes(), codegen


@intrinsic
def load(typingctx: Any, array: Any, index: Any) -> Any:
    """``array[index : index + 16]`` of a flat float32 array (no bounds check)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.load(builder.bitcast(pointer, _FLOATS.as_pointer()), align=4)

    return lanes(array, index), codegen


@intrinsic
def multiply_add(typingctx: Any, x: Any, m: Any, total: Any) -> Any:
    """``total + x * m`` with the float32 ``x`` in every lane, fused (one rounding)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return _fused(builder, _FLOATS, "llvm.fma.v16f32", args)

    return lanes(types.float32, lanes, lanes), codegen


@intrinsic
def add_into(typingctx: Any, array: Any, index: Any, total: Any) -> Any:
    """``array[index : index + 16] += total`` of a flat float64 array (no bounds check)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        pointer = builder.bitcast(pointer, _DOUBLES.as_pointer())
        wide = builder.fpext(args[2], _DOUBLES)
        builder.store(builder.fadd(builder.load(pointer, align=8), wide), pointer, align=8)
        return context.get_dummy_value()

    return types.none(array, index, total), codegen


class WideLanes(types.Type):
    """The numba type of sixteen float64 lanes (two AVX-512 registers)."""

    def __init__(self) -> None:
        super().__init__(name="Lanes16xFloat64")


wide_lanes = WideLanes()


@register_model(WideLanes)
class _WideLanesModel(models.PrimitiveModel):
    def __init__(self, dmm: Any, fe_type: WideLanes) -> None:
        super().__init__(dmm, fe_type, _DOUBLES)


@intrinsic
def wide_zeros(typingctx: Any) -> Any:
    """Sixteen float64 lanes of zero."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return ir.Constant(_DOUBLES, None)

    return wide_lanes(), codegen


@intrinsic
def wide_load(typingctx: Any, array: Any, index: Any) -> Any:
    """``array[index : index + 16]`` of a flat float32 or float64 array as float64 lanes
    (float32 widened exactly; no bounds check)."""
    if array.dtype not in (types.float32, types.float64):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        if sig.args[0].dtype == types.float64:
            return builder.load(builder.bitcast(pointer, _DOUBLES.as_pointer()), align=8)
        narrow = builder.load(builder.bitcast(pointer, _FLOATS.as_pointer()), align=4)
        return builder.fpext(narrow, _DOUBLES)

    return wide_lanes(array, index), codegen


@intrinsic
def wide_multiply_add(typingctx: Any, x: Any, m: Any, total: Any) -> Any:
    """``total + x * m`` with the float64 ``x`` in every lane, rounded after the product and
    after the sum (not fused), as numba's scalar ``total += x * m`` is: the same bits."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.fadd(args[2], builder.fmul(_spread(builder, _DOUBLES, args[0]), args[1]))

    return wide_lanes(types.float64, wide_lanes, wide_lanes), codegen


@intrinsic
def wide_fused_add(typingctx: Any, x: Any, m: Any, total: Any) -> Any:
    """``total + x * m`` with the float64 ``x`` in every lane, fused (one rounding): the same
    bits as :func:`wide_multiply_add` where every product ``x * m`` is exact in float64 (a
    float32 weight times a float32 or an integer of at most 29 bits), in one instruction."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return _fused(builder, _DOUBLES, "llvm.fma.v16f64", args)

    return wide_lanes(types.float64, wide_lanes, wide_lanes), codegen


@intrinsic
def wide_store(typingctx: Any, array: Any, index: Any, total: Any) -> Any:
    """``array[index : index + 16] = total`` of a flat float64 array (no bounds check)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        builder.store(args[2], builder.bitcast(pointer, _DOUBLES.as_pointer()), align=8)
        return context.get_dummy_value()

    return types.none(array, index, total), codegen


@intrinsic
def prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """Start reading the cache line of ``array[index]`` into L2 (``prefetcht1``); never faults,
    whatever the index."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        signature = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
        function = cgutils.get_or_insert_function(builder.module, signature, "llvm.prefetch.p0")
        # A read (0), kept in the middle levels (locality 2 of 3), data not instructions (1).
        flags = [ir.Constant(i32, value) for value in (0, 2, 1)]
        builder.call(function, [builder.bitcast(pointer, byte_pointer), *flags])
        return context.get_dummy_value()

    return types.none(array, index), codegen
