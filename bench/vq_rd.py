#!/usr/bin/env python3
"""Entropy-coded vector quantization against entropy-coded scalar grids
(issue 9, item 1), on i.i.d. Gaussian data and on a model's weights.

Methods, every index stream priced at its ideal order-0 code length under
the probabilities measured on a *training* half and applied to a held-out
half (what a coder whose table was fitted on other data pays), plus the
codebook (f16 per coordinate) and a 16-bit frequency per codeword:

  ecsq        uniform grid (one dimension), step swept
  ecvq-dD     entropy-constrained VQ (Chou, Lookabaugh and Gray): Lloyd
              iterations on ||x - c||^2 + lambda * len(c), len = -log2 p(c);
              sub-vectors of D consecutive weights of a row; K codewords at
              the start, pruned as they empty
  rvq-dD-M    M residual stages of ECVQ on D-dim sub-vectors, each fitted on
              the previous stages' residual and coded with its own order-0
              table: the additive / residual (AQLM-like, greedy rather than
              beam-searched) variant

On Gaussian data the gap is to D(R) = 2^(-2R), in bits at equal MSE. On
weights (each row divided by its RMS, as rd's per-row grids see it; the
blocks' matrices pooled, as one codebook shared by the whole model) it is
the rate saved against ecsq at equal MSE (ecsq's curve interpolated); the
codebook is counted once against the pooled parameters ("shared") and once
against the median tensor's ("per tensor"), which answers the notes'
question of small repeated codebooks against large tensor-specific ones.
On Gaussian data the codebook is counted against --amortise parameters
(the index rate alone is printed too; the TSV's last gap column is it).
The trellis rows of docs/results/gaussian_rd.tsv are the reference: the
8-state trellis sits 0.086 bit from D(R), ecsq 0.29.

    bench/vq_rd.py [--model MODEL.safetensors] [--samples N] [--rates 2,2.5,3] [--out PREFIX]

numpy only; ~5 minutes on 2 cores for the defaults.
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shared_basis import load_safetensors  # noqa: E402


def assign(x, cb, lens, lam, chunk=8192):
    """argmin_k ||x - c_k||^2 + lam * lens_k, chunked."""
    out = np.empty(len(x), dtype=np.int64)
    c2 = (cb ** 2).sum(1) + lam * lens
    for s in range(0, len(x), chunk):
        xs = x[s:s + chunk]
        d = c2[None, :] - 2.0 * xs @ cb.T
        out[s:s + chunk] = np.argmin(d, axis=1)
    return out


def ecvq_fit(train, k, lam, iters=25, seed=0):
    """Entropy-constrained Lloyd; returns (codebook, code lengths in bits)."""
    rng = np.random.default_rng(seed)
    cb = train[rng.choice(len(train), size=min(k, len(train)), replace=False)].copy()
    lens = np.full(len(cb), math.log2(len(cb)))
    for _ in range(iters):
        idx = assign(train, cb, lens, lam)
        counts = np.bincount(idx, minlength=len(cb))
        keep = counts > 0
        sums = np.zeros_like(cb)
        np.add.at(sums, idx, train)
        cb = sums[keep] / counts[keep, None]
        p = counts[keep] / counts.sum()
        new = -np.log2(p)
        if len(new) == len(lens) and np.max(np.abs(new - lens)) < 1e-4:
            lens = new
            break
        lens = new
    return cb, lens


def price(test, cb, lens, lam):
    """(bits per vector, squared error per vector) on held-out data."""
    idx = assign(test, cb, lens, lam)
    err = ((test - cb[idx]) ** 2).sum(1)
    return float(lens[idx].mean()), float(err.mean()), idx


def table_bits(cb):
    return cb.size * 16 + len(cb) * 16


def ecsq_curve(train, test, steps):
    """(rate bits/sample, mse) of a uniform grid at each step, train-fitted probabilities."""
    pts = []
    for s in steps:
        qt = np.round(train / s).astype(np.int64)
        q = np.round(test / s).astype(np.int64)
        lo = min(qt.min(), q.min())
        cnt = np.bincount(qt - lo, minlength=int(max(qt.max(), q.max()) - lo + 1)).astype(float)
        cnt += 0.5                                         # unseen symbols stay codable
        lens = -np.log2(cnt / cnt.sum())
        rate = lens[q - lo].mean() + len(np.unique(qt)) * 16 / len(test)
        pts.append((float(rate), float(((test - q * s) ** 2).mean()), s))
    return sorted(pts)


def rate_at_mse(curve, mse):
    """ecsq's rate at a given mse: linear in (rate, log2 mse) between neighbours."""
    r = np.array([p[0] for p in curve])
    m = np.log2([p[1] for p in curve])
    order = np.argsort(m)
    return float(np.interp(math.log2(mse), m[order], r[order]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="also run on this model's block matrices")
    ap.add_argument("--samples", type=int, default=1 << 18, help="values per half (default 262144)")
    ap.add_argument("--rates", default="2,2.5,3")
    ap.add_argument("--amortise", type=int, default=1 << 20,
                    help="params a Gaussian codebook is counted against (default 2^20, a 1M-param family)")
    ap.add_argument("--out", help="write PREFIX.tsv")
    a = ap.parse_args()
    rates = [float(x) for x in a.rates.split(",")]
    rng = np.random.default_rng(1)
    sources = []
    g = rng.standard_normal(2 * a.samples)
    sources.append(("gaussian", g[:a.samples], g[a.samples:], None, a.amortise))
    if a.model:
        m = load_safetensors(a.model)
        mats = [w for n, w in sorted(m.items()) if n.startswith("blocks.") and w.ndim == 2 and min(w.shape) > 8]
        if not mats:
            sys.exit(f"vq_rd: {a.model}: no blocks.* matrices")
        rows = [r for w in mats if w.shape[1] % 8 == 0
                for r in w / np.sqrt((w ** 2).mean(1, keepdims=True) + 1e-30)]
        perm = np.random.default_rng(2).permutation(len(rows))
        halves, filled, cur = ([], []), 0, 0
        for i in perm:                      # whole rows, so sub-vectors stay within a row
            halves[cur].append(rows[i])
            filled += len(rows[i])
            if filled >= a.samples:
                if cur == 1:
                    break
                cur, filled = 1, 0
        tr, te = np.concatenate(halves[0]), np.concatenate(halves[1])
        pooled = sum(w.size for w in mats)
        median = int(np.median([w.size for w in mats]))
        sources.append((os.path.basename(os.path.dirname(a.model)) or a.model, tr, te, pooled, median))

    out_rows = []
    print("| source | method | target R | bits/param | mse | gap | setting |")
    print("|---|---|---|---|---|---|---|")
    for name, tr, te, pooled, median in sources:
        var = float(te.var())
        steps = np.exp(np.linspace(np.log(0.08), np.log(1.6), 60)) * math.sqrt(var)
        curve = ecsq_curve(tr, te, steps)

        def gap(rate, mse):
            if pooled is None:
                return rate - 0.5 * math.log2(var / mse)        # to D(R)
            return rate_at_mse(curve, mse) - rate               # saved against ecsq

        def emit(method, target, rate, mse, setting, cb_bits=0.0):
            if pooled is None:
                rr = rate + cb_bits / median
                cols = [f"{rate:.4f} indices, {rr:.4f} with the codebook", f"{mse:.6f}",
                        f"{gap(rate, mse):+.4f} indices, {gap(rr, mse):+.4f} with the codebook, to D(R)",
                        setting]
                out_rows.append((name, method, target, rr, mse, gap(rr, mse), gap(rate, mse), setting))
            else:
                rs, rt = rate + cb_bits / pooled, rate + cb_bits / median
                cols = [f"{rs:.4f} shared, {rt:.4f} per tensor", f"{mse:.6f}",
                        f"{gap(rs, mse):+.4f} shared, {gap(rt, mse):+.4f} per tensor vs ecsq", setting]
                out_rows.append((name, method, target, rs, mse, gap(rs, mse), gap(rt, mse), setting))
            print(f"| {name} | {method} | {target:g} | " + " | ".join(cols) + " |", flush=True)

        for R in rates:
            best = min(curve, key=lambda p: abs(p[0] - R))
            emit("ecsq", R, best[0], best[1], f"step {best[2] / math.sqrt(var):.4f} x std")
            dtarget = var * 2.0 ** (-2 * R) * 1.4               # about where ecsq sits
            for d in (2, 4):
                k = min(4096, 2 ** int(math.ceil(d * R + 2)))
                lam = 2 * math.log(2) * dtarget * d / d         # slope of D(R) per vector bit
                x, y = tr.reshape(-1, d), te.reshape(-1, d)
                cb, lens = ecvq_fit(x, k, lam)
                bits, err, _ = price(y, cb, lens, lam)
                emit(f"ecvq-d{d}", R, bits / d, err / d, f"K {k} -> {len(cb)}, lambda {lam:.3g}",
                     table_bits(cb))
            # residual: 2 stages of d = 4 and 8, the first coarse
            for d, stages in ((4, 2), (8, 2)):
                x, y = tr.reshape(-1, d), te.reshape(-1, d)
                lam = 2 * math.log(2) * dtarget
                total_bits, cbits, ks = 0.0, 0.0, []
                k = min(1024, 2 ** int(math.ceil(d * R / stages + 2)))
                for s in range(stages):
                    cb, lens = ecvq_fit(x, k, lam, seed=s)
                    ix = assign(x, cb, lens, lam)
                    bits, err, iy = price(y, cb, lens, lam)
                    total_bits += bits
                    cbits += table_bits(cb)
                    ks.append(len(cb))
                    x, y = x - cb[ix], y - cb[iy]
                emit(f"rvq-d{d}-{stages}", R, total_bits / d, float((y ** 2).sum(1).mean()) / d,
                     f"K {k} per stage -> {ks}, lambda {lam:.3g}", cbits)
    if a.out:
        with open(a.out + ".tsv", "w") as f:
            f.write("source\tmethod\tR\tbits_per_param\tmse\tgap\tgap_per_tensor_or_indices_only\tsetting\n")
            for r in out_rows:
                f.write("\t".join(f"{x:.6g}" if isinstance(x, float) else str(x) for x in r) + "\n")


if __name__ == "__main__":
    main()
