"""Triton kernels of :mod:`kmatrix.kernels.triton` (math and launch rules there).

Triton decides at decoration time whether a kernel is compiled or interpreted
(``$TRITON_INTERPRET``), so :func:`kmatrix.kernels.triton._kernels` loads this file once per
mode under its own module name; :data:`INTERPRET` records the mode of each copy. Importing it
without triton installed defines nothing (``triton`` is None).
"""

from __future__ import annotations

import os

try:
    import triton
    import triton.language as tl
except ImportError:  # the optional dependency is missing: nothing to define
    triton = None


def _interpret_mode() -> bool:
    # triton >= 3.4 reads the mode through triton.knobs; older releases read the variable
    try:
        from triton import knobs

        return bool(knobs.runtime.interpret)
    except (ImportError, AttributeError):
        return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


INTERPRET = triton is not None and _interpret_mode()

if triton is not None:

    @triton.jit
    def _add(a, b):
        return a + b

    @triton.jit
    def _colsum(v):
        # Σ over the tile's rows; tl.reduce with a local combine function rather than tl.sum,
        # whose standard-library definition the interpreter cannot run when triton was first
        # imported without TRITON_INTERPRET=1
        return tl.reduce(v, 0, _add)

    @triton.jit
    def _pairs(x, BB: tl.constexpr, N: tl.constexpr, STRIDE: tl.constexpr):
        # (BB, N) -> lo, hi of shape (BB, N / (2 STRIDE), STRIDE): entries i and i + STRIDE
        G: tl.constexpr = N // (2 * STRIDE)
        return tl.split(tl.permute(tl.reshape(x, (BB, G, 2, STRIDE)), (0, 1, 3, 2)))

    @triton.jit
    def _unpairs(lo, hi, BB: tl.constexpr, N: tl.constexpr):
        return tl.reshape(tl.permute(tl.join(lo, hi), (0, 1, 3, 2)), (BB, N))

    @triton.jit
    def _stage_ptr(tw_ptr, s, S, T_IDX: tl.constexpr, N: tl.constexpr, L: tl.constexpr,
                   INC: tl.constexpr, CT: tl.constexpr):  # fmt: skip
        # pointers to the (a, b, c, d) entries of every pair of stage T_IDX (pair p = g·STRIDE + r)
        FAC: tl.constexpr = T_IDX // L
        K: tl.constexpr = T_IDX % L
        UP: tl.constexpr = (INC >> FAC) & 1
        STRIDE: tl.constexpr = UP * (1 << K) + (1 - UP) * (N >> (K + 1))
        G: tl.constexpr = N // (2 * STRIDE)
        p = tl.arange(0, G)[:, None] * STRIDE + tl.arange(0, STRIDE)[None, :]
        base = ((FAC * S + s) * L + K).to(tl.int64) * (N // 2) * 4 * CT
        return tw_ptr + base + p * (4 * CT)

    @triton.jit
    def _mix(lr, li, hr, hi, q, CT: tl.constexpr, XC: tl.constexpr, TC: tl.constexpr,
             ADJ: tl.constexpr):  # fmt: skip
        # the 2×2 blocks at q applied to the pairs: (lo, hi) <- (a lo + b hi, c lo + d hi), or
        # with ADJ the blocks' conjugate transposes; li, hi unused for real x
        ar = tl.load(q).to(tl.float32)[None]
        if ADJ:  # Bᴴ: blocks [[a, b], [c, d]] -> [[conj a, conj c], [conj b, conj d]]
            br = tl.load(q + 2 * CT).to(tl.float32)[None]
            cr = tl.load(q + CT).to(tl.float32)[None]
        else:
            br = tl.load(q + CT).to(tl.float32)[None]
            cr = tl.load(q + 2 * CT).to(tl.float32)[None]
        dr = tl.load(q + 3 * CT).to(tl.float32)[None]
        yr0 = ar * lr + br * hr
        yr1 = cr * lr + dr * hr
        if XC:
            yi0 = ar * li + br * hi
            yi1 = cr * li + dr * hi
            if TC:
                ai = tl.load(q + 1).to(tl.float32)[None]
                if ADJ:
                    bi = tl.load(q + 2 * CT + 1).to(tl.float32)[None]
                    ci = tl.load(q + CT + 1).to(tl.float32)[None]
                else:
                    bi = tl.load(q + CT + 1).to(tl.float32)[None]
                    ci = tl.load(q + 2 * CT + 1).to(tl.float32)[None]
                di = tl.load(q + 3 * CT + 1).to(tl.float32)[None]
                if ADJ:  # conjugate: negate the imaginary parts
                    ai = -ai
                    bi = -bi
                    ci = -ci
                    di = -di
                yr0 = yr0 - ai * li - bi * hi
                yr1 = yr1 - ci * li - di * hi
                yi0 = yi0 + ai * lr + bi * hr
                yi1 = yi1 + ci * lr + di * hr
        else:
            yi0 = yr0
            yi1 = yr1
        return yr0, yi0, yr1, yi1

    @triton.jit
    def _stage(xr, xi, tw_ptr, s, S, T_IDX: tl.constexpr, N: tl.constexpr, L: tl.constexpr,
               INC: tl.constexpr, BB: tl.constexpr, XC: tl.constexpr, TC: tl.constexpr):  # fmt: skip
        # one stage on the tile: x <- B_t x; xi unused for real x
        FAC: tl.constexpr = T_IDX // L
        K: tl.constexpr = T_IDX % L
        UP: tl.constexpr = (INC >> FAC) & 1
        STRIDE: tl.constexpr = UP * (1 << K) + (1 - UP) * (N >> (K + 1))
        CT: tl.constexpr = 1 + TC
        q = _stage_ptr(tw_ptr, s, S, T_IDX, N, L, INC, CT)
        lr, hr = _pairs(xr, BB, N, STRIDE)
        if XC:
            li, hi = _pairs(xi, BB, N, STRIDE)
        else:
            li = lr
            hi = hr
        yr0, yi0, yr1, yi1 = _mix(lr, li, hr, hi, q, CT, XC, TC, False)
        if XC:
            xi = _unpairs(yi0, yi1, BB, N)
        return _unpairs(yr0, yr1, BB, N), xi

    @triton.jit
    def _back_stage(gr, gi, xr, xi, tw_ptr, gtw_ptr, s, S, T_IDX: tl.constexpr,
                    N: tl.constexpr, L: tl.constexpr, INC: tl.constexpr, BB: tl.constexpr,
                    XC: tl.constexpr, TC: tl.constexpr):  # fmt: skip
        # stage T_IDX backwards, with g the gradient at its output and x its input:
        # gtw[stage, p] += Σ_rows [g_lo, g_hi]ᵀ [x_lo, x_hi]ᴴ (real part for a real twiddle),
        # then g <- B_tᴴ g (returned)
        FAC: tl.constexpr = T_IDX // L
        K: tl.constexpr = T_IDX % L
        UP: tl.constexpr = (INC >> FAC) & 1
        STRIDE: tl.constexpr = UP * (1 << K) + (1 - UP) * (N >> (K + 1))
        CT: tl.constexpr = 1 + TC
        gq = _stage_ptr(gtw_ptr, s, S, T_IDX, N, L, INC, CT)
        glr, ghr = _pairs(gr, BB, N, STRIDE)
        xlr, xhr = _pairs(xr, BB, N, STRIDE)
        if XC:
            gli, ghi = _pairs(gi, BB, N, STRIDE)
            xli, xhi = _pairs(xi, BB, N, STRIDE)
            # Re(g conj(x)) = gr xr + gi xi; Im(g conj(x)) = gi xr - gr xi
            tl.atomic_add(gq, _colsum(glr * xlr + gli * xli), sem="relaxed")
            tl.atomic_add(gq + CT, _colsum(glr * xhr + gli * xhi), sem="relaxed")
            tl.atomic_add(gq + 2 * CT, _colsum(ghr * xlr + ghi * xli), sem="relaxed")
            tl.atomic_add(gq + 3 * CT, _colsum(ghr * xhr + ghi * xhi), sem="relaxed")
            if TC:
                tl.atomic_add(gq + 1, _colsum(gli * xlr - glr * xli), sem="relaxed")
                tl.atomic_add(gq + CT + 1, _colsum(gli * xhr - glr * xhi), sem="relaxed")
                tl.atomic_add(gq + 2 * CT + 1, _colsum(ghi * xlr - ghr * xli), sem="relaxed")
                tl.atomic_add(gq + 3 * CT + 1, _colsum(ghi * xhr - ghr * xhi), sem="relaxed")
        else:
            gli = glr
            ghi = ghr
            tl.atomic_add(gq, _colsum(glr * xlr), sem="relaxed")
            tl.atomic_add(gq + 1, _colsum(glr * xhr), sem="relaxed")
            tl.atomic_add(gq + 2, _colsum(ghr * xlr), sem="relaxed")
            tl.atomic_add(gq + 3, _colsum(ghr * xhr), sem="relaxed")
        q = _stage_ptr(tw_ptr, s, S, T_IDX, N, L, INC, CT)
        yr0, yi0, yr1, yi1 = _mix(glr, gli, ghr, ghi, q, CT, XC, TC, True)
        if XC:
            gi = _unpairs(yi0, yi1, BB, N)
        return _unpairs(yr0, yr1, BB, N), gi

    @triton.jit
    def _load_tile(ptr, offs, mask, XC: tl.constexpr):
        vr = tl.load(ptr + offs, mask=mask, other=0.0).to(tl.float32)
        if XC:
            vi = tl.load(ptr + offs + 1, mask=mask, other=0.0).to(tl.float32)
        else:
            vi = vr
        return vr, vi

    @triton.jit
    def _store_tile(ptr, offs, mask, vr, vi, XC: tl.constexpr):
        tl.store(ptr + offs, vr.to(ptr.dtype.element_ty), mask=mask)
        if XC:
            tl.store(ptr + offs + 1, vi.to(ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def forward_kernel(tw_ptr, x_ptr, y_ptr, B, S, N: tl.constexpr, L: tl.constexpr,
                       T: tl.constexpr, INC: tl.constexpr, BB: tl.constexpr, XC: tl.constexpr,
                       TC: tl.constexpr):  # fmt: skip
        tile = tl.program_id(0)
        s = tl.program_id(1)
        rows = tile * BB + tl.arange(0, BB)
        offs = ((rows[:, None].to(tl.int64) * S + s) * N + tl.arange(0, N)[None, :]) * (1 + XC)
        mask = rows[:, None] < B
        xr, xi = _load_tile(x_ptr, offs, mask, XC)
        for t in tl.static_range(T):
            xr, xi = _stage(xr, xi, tw_ptr, s, S, t, N, L, INC, BB, XC, TC)
        _store_tile(y_ptr, offs, mask, xr, xi, XC)

    @triton.jit
    def backward_kernel(tw_ptr, x_ptr, g_ptr, gx_ptr, gtw_ptr, scratch_ptr, B, S, TILES,
                        N: tl.constexpr, L: tl.constexpr, T: tl.constexpr, INC: tl.constexpr,
                        BB: tl.constexpr, XC: tl.constexpr, TC: tl.constexpr):  # fmt: skip
        pid = tl.program_id(0)
        s = tl.program_id(1)
        nprog = tl.num_programs(0)
        slot = pid.to(tl.int64) * S + s
        # this program's scratch: T stage inputs of one tile, (T, BB, N[, 2]) float32
        sc_ptr = scratch_ptr + slot * (T * BB * N * (1 + XC))
        sc_offs = (tl.arange(0, BB)[:, None] * N + tl.arange(0, N)[None, :]) * (1 + XC)
        every = sc_offs >= 0
        # this program's twiddle-gradient slot, laid out like the twiddle (F, S, L, N/2, 2, 2[, 2])
        g_slot = gtw_ptr + pid.to(tl.int64) * (T * S * (N // 2) * 4 * (1 + TC))
        for tile in range(pid, TILES, nprog):
            rows = tile * BB + tl.arange(0, BB)
            offs = ((rows[:, None].to(tl.int64) * S + s) * N + tl.arange(0, N)[None, :]) * (1 + XC)
            mask = rows[:, None] < B
            xr, xi = _load_tile(x_ptr, offs, mask, XC)
            # inputs of stages 0 .. T-2 to the scratch; the last stage's input stays in registers
            for t in tl.static_range(T - 1):
                _store_tile(sc_ptr + t * (BB * N * (1 + XC)), sc_offs, every, xr, xi, XC)
                xr, xi = _stage(xr, xi, tw_ptr, s, S, t, N, L, INC, BB, XC, TC)
            tl.debug_barrier()  # the scratch written above is read below by other threads
            gr, gi = _load_tile(g_ptr, offs, mask, XC)
            for u in tl.static_range(T):
                if u > 0:
                    xr, xi = _load_tile(
                        sc_ptr + (T - 1 - u) * (BB * N * (1 + XC)), sc_offs, every, XC
                    )
                gr, gi = _back_stage(
                    gr, gi, xr, xi, tw_ptr, g_slot, s, S, T - 1 - u, N, L, INC, BB, XC, TC
                )
            _store_tile(gx_ptr, offs, mask, gr, gi, XC)
            tl.debug_barrier()  # the next tile overwrites the scratch read above
