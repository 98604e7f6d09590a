"""Explicit-vector inner loop of the lookup-table kernel (lookup.py), written as LLVM IR.

Why IR: the loop adds 64-byte table rows whose addresses come from data (one row per group of
input rows), then converts the exact sum with the ADC. Written as numba loops, LLVM either
vectorizes the wrong loop (gathers across groups) or guards every call with runtime alias
checks; as one explicit ``<64 x i8>`` accumulation it becomes a load-and-add per row
(``vpaddb`` with AVX-512, two 256-bit adds with AVX2). LLVM legalizes the vector types for any
target. Byte rows are added with saturating adds (``vpaddusb``, same cost; sums never reach
255), which LLVM does not reassociate: four independent chains instead of one serial chain,
about 10% faster. The float64 ADC is plain ``fmul``/``fadd`` without fast-math flags, so it
rounds exactly like ``adc.adc_code_value``; the float32 one fuses ``v * gain + 0.5`` (another
10%), used only where ``adc.float32_adc_exact`` proved the fused formula exact.

Under ``NUMBA_DISABLE_JIT=1`` (coverage runs) ``tile_reads`` is a NumPy function with the same
semantics.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from xbarsim.numba_settings import jit_inline

TILE = 64
"""Columns per table row (bytes): one 512-bit vector, or two 256-bit ones."""
FLOAT_TILE = 16
"""Columns per float32 table row (64 bytes, like TILE)."""
_CHAINS = 4
"""Independent byte accumulators per pass: hides the add latency."""
_ROW_SHIFT = 6
"""log2 of the bytes per table row (TILE bytes, or FLOAT_TILE float32)."""
ROW_WORDS = 8
"""8-byte words per table row. Reads address rows by word offset (row number * ROW_WORDS):
x86 scales an index by 8 inside the load itself, saving a shift per row (16 per read)."""


def _splat(builder: ir.IRBuilder, value: ir.Value, vtype: ir.VectorType) -> ir.Value:
    """A vector with every lane equal to ``value``."""
    undef = ir.Constant(vtype, ir.Undefined)
    one = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), vtype.count), [0] * vtype.count)
    return builder.shuffle_vector(one, undef, mask)


def _vector_arg(context, builder, array_type, array_value, vtype):
    """Pointer to the data of a contiguous array argument, typed as a pointer to ``vtype``."""
    data = context.make_array(array_type)(context, builder, array_value).data
    return builder.bitcast(data, vtype.as_pointer())


def _tile_reads_intrinsic(per_pass: int):
    """``tile_reads`` IR with ``per_pass`` (a multiple of 4) unrolled; see ``tile_reads``."""
    return intrinsic(_tile_reads_typer(per_pass))


def _tile_reads_typer(per_pass: int):
    def typer(typingctx, table, offsets, passes, gain, lsb, step, acc):
        return types.void(table, offsets, passes, gain, lsb, step, acc), _codegen(per_pass)

    return typer


def _codegen(per_pass: int):
    """Codegen of ``tile_reads`` for ``per_pass`` rows per pass (acc's dtype sets the ADC's)."""

    def codegen(context, builder, signature, args):
        table_t, offsets_t, _, gain_t, lsb_t, step_t, acc_t = signature.args
        table_v, offsets_v, passes_v, gain_v, lsb_v, step_v, acc_v = args
        i64 = ir.IntType(64)
        ftype = context.get_value_type(acc_t.dtype)
        vbyte = ir.VectorType(ir.IntType(8), TILE)
        vshort = ir.VectorType(ir.IntType(16), TILE)
        vflt = ir.VectorType(ftype, TILE)
        suffix = "f32" if acc_t.dtype == types.float32 else "f64"
        floor = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vflt, [vflt]), f"llvm.floor.v{TILE}{suffix}"
        )
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vflt, [vflt] * 3), f"llvm.fma.v{TILE}{suffix}"
        )
        # saturating byte adds (never saturate: pass sums stay below 256) keep the four
        # chains apart; LLVM would reassociate plain adds into one serial chain
        uadd_sat = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vbyte, [vbyte] * 2), f"llvm.uadd.sat.v{TILE}i8"
        )
        base = builder.ptrtoint(context.make_array(table_t)(context, builder, table_v).data, i64)
        offs_arr = context.make_array(offsets_t)(context, builder, offsets_v)
        n_offsets = builder.extract_value(offs_arr.shape, 0)
        row_len = builder.extract_value(offs_arr.shape, 1)
        offs = offs_arr.data
        half = _splat(builder, ir.Constant(ftype, 0.5), vflt)
        gain_vec = builder.load(_vector_arg(context, builder, gain_t, gain_v, vflt), align=4)
        lsb_vec = builder.load(_vector_arg(context, builder, lsb_t, lsb_v, vflt), align=4)
        step_f = context.cast(builder, step_v, step_t, acc_t.dtype)
        acc_rows = _vector_arg(context, builder, acc_t, acc_v, vflt)
        acc_arr = context.make_array(acc_t)(context, builder, acc_v)
        n_vectors = builder.extract_value(acc_arr.shape, 0)
        reads = builder.udiv(n_offsets, builder.select(builder.icmp_unsigned(
            ">", n_vectors, ir.Constant(i64, 0)), n_vectors, ir.Constant(i64, 1)))
        acc = cgutils.alloca_once(builder, vflt)
        scale = cgutils.alloca_once_value(builder, ir.Constant(ftype, 1.0))
        read_of = cgutils.alloca_once_value(builder, ir.Constant(i64, 0))  # read being converted
        vector_of = cgutils.alloca_once_value(builder, ir.Constant(i64, 0))  # and its vector
        total = cgutils.alloca_once(builder, vshort)

        def rounded(a, b):
            """a * b + 0.5: fused (one rounding) in float32, as ``adc.float32_adc_exact``
            verifies; separate multiply and add in float64, as ``adc.adc_code_value``."""
            if acc_t.dtype == types.float32:
                return builder.call(fma, [a, b, half])
            return builder.fadd(builder.fmul(a, b), half)

        packed_offsets = offsets_t.dtype.bitwidth == 16

        def pass_offsets(p0):
            """The pass's row word offsets as i64: 16-bit ones four per 64-bit load (shifts
            are cheaper than the loads they replace, and loads bound this loop)."""
            if not packed_offsets:
                return [builder.zext(builder.load(builder.gep(offs, [builder.add(
                    p0, ir.Constant(i64, j))])), i64) for j in range(per_pass)]  # fmt: skip
            found = []
            for m in range(per_pass // 4):
                at = builder.gep(offs, [builder.add(p0, ir.Constant(i64, 4 * m))])
                word = builder.load(builder.bitcast(at, i64.as_pointer()), align=2)
                for q in range(4):
                    part = builder.lshr(word, ir.Constant(i64, 16 * q))
                    found.append(builder.and_(part, ir.Constant(i64, 0xFFFF)))
            return found

        def row(words):
            offset = builder.shl(words, ir.Constant(i64, 3))
            ptr = builder.inttoptr(builder.add(base, offset), vbyte.as_pointer())
            return builder.load(ptr, align=1)

        def read_sums(read_index):
            """The exact column sums of one read, 16-bit lanes."""
            start = builder.mul(read_index, row_len)
            builder.store(ir.Constant(vshort, None), total)
            with cgutils.for_range(builder, passes_v) as pas:
                p0 = builder.add(start, builder.mul(pas.index, ir.Constant(i64, per_pass)))
                words = pass_offsets(p0)
                sums = [row(words[j]) for j in range(_CHAINS)]
                for k in range(_CHAINS, per_pass):
                    value = row(words[k])
                    sums[k % _CHAINS] = builder.call(uadd_sat, [sums[k % _CHAINS], value])
                pair0 = builder.call(uadd_sat, [sums[0], sums[1]])
                pair1 = builder.call(uadd_sat, [sums[2], sums[3]])
                wide = builder.zext(builder.add(pair0, pair1), vshort)
                builder.store(builder.add(builder.load(total), wide), total)
            return builder.load(total)

        def convert(sums):
            """ADC of one read's sums, added to its vector's acc with the read's weight (a
            vector's acc row is loaded at its first read and stored after its last)."""
            r, i = builder.load(read_of), builder.load(vector_of)
            row_ptr = builder.gep(acc_rows, [i])
            with builder.if_then(builder.icmp_unsigned("==", r, ir.Constant(i64, 0))):
                builder.store(builder.load(row_ptr, align=4), acc)
                builder.store(ir.Constant(ftype, 1.0), scale)
            v = builder.uitofp(sums, vflt)
            code = builder.call(floor, [rounded(v, gain_vec)])
            value = builder.call(floor, [rounded(code, lsb_vec)])
            s = builder.load(scale)
            # value * s is exact (small integer times a power of 2), so a fused multiply-add
            # rounds exactly like the separate multiply and add
            fused = builder.call(fma, [value, _splat(builder, s, vflt), builder.load(acc)])
            builder.store(fused, acc)
            builder.store(builder.fmul(s, step_f), scale)
            r = builder.add(r, ir.Constant(i64, 1))
            last = builder.icmp_unsigned("==", r, reads)
            with builder.if_else(last) as (then, otherwise):
                with then:
                    builder.store(fused, row_ptr, align=4)
                    builder.store(ir.Constant(i64, 0), read_of)
                    builder.store(builder.add(i, ir.Constant(i64, 1)), vector_of)
                with otherwise:
                    builder.store(r, read_of)

        # software-pipelined over all the vectors' reads: read q's rows are fetched before
        # read q-1 is converted, so the loads of one read overlap the other's conversion chain
        # (about 50 cycles long)
        with builder.if_then(builder.icmp_signed(">", n_offsets, ir.Constant(i64, 0))):
            previous = cgutils.alloca_once_value(builder, read_sums(ir.Constant(i64, 0)))
            one = ir.Constant(i64, 1)
            with cgutils.for_range_slice(builder, one, n_offsets, one) as (read, _):
                current = read_sums(read)
                convert(builder.load(previous))
                builder.store(current, previous)
            convert(builder.load(previous))
        return context.get_dummy_value()

    return codegen


PER_PASS = (4, 8, 16)
"""Rows per pass with an unrolled intrinsic; plans round down to one of these."""
_IR4, _IR8, _IR16 = (_tile_reads_intrinsic(n) for n in PER_PASS)


@intrinsic
def _float_sums_ir(typingctx, table, offsets, out):
    """IR of ``float_sums``: float32 rows of ``FLOAT_TILE`` lanes, 4 chains in a fixed order."""

    def codegen(context, builder, signature, args):
        table_t, offsets_t, out_t = signature.args
        table_v, offsets_v, out_v = args
        i64 = ir.IntType(64)
        vflt = ir.VectorType(ir.FloatType(), FLOAT_TILE)
        base = builder.ptrtoint(context.make_array(table_t)(context, builder, table_v).data, i64)
        offs_arr = context.make_array(offsets_t)(context, builder, offsets_v)
        n_reads = builder.extract_value(offs_arr.shape, 0)
        row_len = builder.extract_value(offs_arr.shape, 1)
        out_p = _vector_arg(context, builder, out_t, out_v, vflt)

        def row(index):
            words = builder.zext(builder.load(builder.gep(offs_arr.data, [index])), i64)
            offset = builder.shl(words, ir.Constant(i64, 3))
            ptr = builder.inttoptr(builder.add(base, offset), vflt.as_pointer())
            return builder.load(ptr, align=4)

        with cgutils.for_range(builder, n_reads) as read:
            start = builder.mul(read.index, row_len)
            sums = [cgutils.alloca_once_value(builder, ir.Constant(vflt, None))
                    for _ in range(_CHAINS)]  # fmt: skip
            step = ir.Constant(i64, _CHAINS)
            with cgutils.for_range_slice(builder, start, builder.add(start, row_len), step) as (
                k,
                _,
            ):
                for j, chain in enumerate(sums):
                    value = row(builder.add(k, ir.Constant(i64, j)))
                    builder.store(builder.fadd(builder.load(chain), value), chain)
            a, b, c, d = (builder.load(chain) for chain in sums)
            total = builder.fadd(builder.fadd(a, b), builder.fadd(c, d))
            builder.store(total, builder.gep(out_p, [read.index]), align=4)
        return context.get_dummy_value()

    return types.void(table, offsets, out), codegen


@intrinsic
def _add_row_ir(typingctx, table, dst, src, levels, start):
    """IR of ``add_row``: one 64-byte vector load, add and store."""

    def codegen(context, builder, signature, args):
        table_t, _, _, levels_t, _ = signature.args
        table_v, dst_v, src_v, levels_v, start_v = args
        i64 = ir.IntType(64)
        element = context.get_value_type(table_t.dtype)
        lanes = 64 // context.get_abi_sizeof(element)
        vtype = ir.VectorType(element, lanes)
        base = builder.ptrtoint(context.make_array(table_t)(context, builder, table_v).data, i64)

        def table_row(number):
            offset = builder.shl(builder.zext(number, i64), ir.Constant(i64, _ROW_SHIFT))
            return builder.inttoptr(builder.add(base, offset), vtype.as_pointer())

        level_data = context.make_array(levels_t)(context, builder, levels_v).data
        level_ptr = builder.bitcast(builder.gep(level_data, [start_v]), vtype.as_pointer())
        row, level = builder.load(table_row(src_v), align=1), builder.load(level_ptr, align=1)
        total = builder.fadd(row, level) if isinstance(element, ir.FloatType) else \
            builder.add(row, level)
        builder.store(total, table_row(dst_v), align=1)
        return context.get_dummy_value()

    return types.void(table, dst, src, levels, start), codegen


def _add_row_python(table, dst, src, levels, start):
    """NumPy version of ``add_row``."""
    rows = table.reshape(-1, 64 // table.itemsize)
    flat = levels.reshape(-1)
    rows[dst] = rows[src] + flat[start : start + rows.shape[1]]


def _float_sums_python(table, offsets, out):
    """NumPy version of ``float_sums`` (same order of additions)."""
    rows = table.reshape(-1, FLOAT_TILE)
    for r, read in enumerate(offsets):
        index = read.astype(np.int64) // ROW_WORDS
        chains = [rows[index[j::_CHAINS]] for j in range(_CHAINS)]
        sums = []
        for chain in chains:
            acc = np.zeros(FLOAT_TILE, np.float32)
            for value in chain:
                acc = acc + value
            sums.append(acc)
        out[r] = (sums[0] + sums[1]) + (sums[2] + sums[3])


@jit_inline
def _tile_reads_jit(table, offsets, passes, per_pass, gain, lsb, step, acc):
    if per_pass == 4:
        _IR4(table, offsets, passes, gain, lsb, step, acc)
    elif per_pass == 8:
        _IR8(table, offsets, passes, gain, lsb, step, acc)
    else:
        _IR16(table, offsets, passes, gain, lsb, step, acc)


def _tile_reads_python(table, offsets, passes, per_pass, gain, lsb, step, acc):
    """NumPy version of ``tile_reads`` for pure-Python runs (NUMBA_DISABLE_JIT=1)."""
    reads = offsets.shape[0] // max(acc.shape[0], 1)
    for i in range(acc.shape[0]):
        _vector_reads_python(table, offsets[i * reads : (i + 1) * reads], gain, lsb, step, acc[i])


def _vector_reads_python(table, offsets, gain, lsb, step, acc):
    """One vector's reads of ``_tile_reads_python``."""
    rows = table.reshape(-1, TILE).astype(np.int64)
    gain64, lsb64 = gain.astype(np.float64), lsb.astype(np.float64)
    scale = 1.0
    for read in offsets:
        v = rows[read.astype(np.int64) // ROW_WORDS].sum(axis=0).astype(np.float64)
        if acc.dtype == np.float32:  # fused: the exact a * b + 0.5, rounded once to float32
            code = np.floor((v * gain64 + 0.5).astype(np.float32)).astype(np.float64)
            value = np.floor((code * lsb64 + 0.5).astype(np.float32))
        else:
            value = np.floor(np.floor(v * gain64 + 0.5) * lsb64 + 0.5)
        acc += value.astype(acc.dtype) * acc.dtype.type(scale)
        scale *= step


tile_reads: Any = (
    _tile_reads_python if getattr(numba.config, "DISABLE_JIT", False) else _tile_reads_jit
)
"""tile_reads(table, offsets, passes, per_pass, gain, lsb, step, acc): for every vector i (row i
of ``acc`` [n, TILE], floats of one dtype) and each of its reads r (row i * reads + r of
``offsets`` [n * reads, passes * per_pass]: word offsets of rows of ``table``, a C-contiguous
uint8 array of TILE-byte rows starting on a 64-byte boundary), v = the exact sum of those rows;
then ``acc[i] += floor(floor(v * gain + 0.5) * lsb + 0.5) * step**r`` lane by lane (``gain``,
``lsb``: TILE floats of acc's dtype; float32 fuses each ``a * b + 0.5``). One call takes all of
a chunk's vectors, so the read pipeline runs on across vectors. Rows are summed in bytes within
a pass of ``per_pass`` rows (one of ``PER_PASS``), so a pass's sum must stay below 256 and a
read's below 2**16 (the caller's plan guarantees both)."""

float_sums: Any = (
    _float_sums_python if getattr(numba.config, "DISABLE_JIT", False) else _float_sums_ir
)
"""float_sums(table, offsets, out): out[r] = the float32 sum of the ``table`` rows (FLOAT_TILE
lanes each) at word offsets ``offsets[r]`` (a multiple of 4 per read), in a fixed order: chain
j adds rows j, j+4, ... in turn, then (chain 0 + chain 1) + (chain 2 + chain 3). Exact for
integer values below 2**24; deterministic otherwise."""

add_row: Any = _add_row_python if getattr(numba.config, "DISABLE_JIT", False) else _add_row_ir
"""add_row(table, dst, src, levels, start): row ``dst`` of ``table`` (C-contiguous, 64-byte rows:
TILE bytes or FLOAT_TILE float32) = row ``src`` + the 64 bytes of the C-contiguous ``levels``
(same dtype) from flat element ``start``. The table builders' inner step, one vector each: as a
numba loop it paid array views and alias checks per 64-byte row (6x slower)."""
