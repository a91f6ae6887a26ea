#!/usr/bin/env python3
"""What a shared basis across layers can buy (issue 9, item 3), as a bound.

A tensor family is one matrix name across the layers (every layer's
attn.c_q, every mlp.fc, ...). "A shared base stored once plus per-layer
deltas" is a linear transform across layers: layer l is coded as
W_l = base + D_l. For Gaussian sources at the rates Parameter Golf lives at
(2 bits/param and more, every component above the water level of reverse
water-filling), no linear transform across layers saves more than the
family's cross-layer total correlation. With R the L x L correlation matrix
of the layers (over the element positions), the bound in bits per parameter
at equal distortion is

    gain_layers = -log2(det R) / (2 L)

It is 0 when the layers are uncorrelated, whatever the base (mean, median,
low-rank): the base then costs exactly what the deltas save. The mean base
itself (delta_l = W_l - mean) is printed too, with its own Gaussian price:
L deltas plus a base at the same distortion.

The MLP's hidden units can be permuted freely (fc's rows with proj's
columns: an exact symmetry), so a shared base could first align each layer's
hidden units to the layer before. The bound is also printed after a greedy
alignment that maximises the correlation of matched units (fc row and proj
column together) with the previous, already aligned layer.

A shared basis can also be a shared *column* transform: every layer's rows
expressed in one orthonormal basis V fitted on the family (the shared factors
of a low-rank base). Its transform-coding gain on layer l, with V fitted on
the *other* layers (fitting it on the same rows would overfit: a layer has
fewer rows than columns in most families), is

    gain_cols(l) = (sum_j log2 S_jj - sum_k log2 (V^T S V)_kk) / (2 cols)

with S layer l's column covariance over its rows (per-row RMS normalised, as
the grids see the rows): each coefficient coded with its own entropy model at
the same distortion. Negative means the basis fitted on the other layers
codes layer l worse than its own columns do.

Selecting the best match among n hidden units correlates independent units
by chance, and that correlation is there to code: the alignment bound is
real. The "iid control" column runs the same alignment on i.i.d. Gaussian
matrices of the family's shapes, to show how much of it chance explains.

    bench/shared_basis.py MODEL.safetensors [--bits 2.5] [--out PREFIX]

Prints one table per model (PREFIX.tsv written when given). numpy only.
"""
import argparse
import json
import re
import struct
import sys

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        sys.exit(f"shared_basis: {path}: not a safetensors file (too short)")
    n = struct.unpack("<Q", blob[:8])[0]
    try:
        header = json.loads(blob[8:8 + n])
    except ValueError as e:
        sys.exit(f"shared_basis: {path}: bad safetensors header: {e}")
    base, out = 8 + n, {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        s, e = v["data_offsets"]
        raw = blob[base + s:base + e]
        if v["dtype"] == "F32":
            a = np.frombuffer(raw, dtype=np.float32)
        elif v["dtype"] == "F16":
            a = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
        elif v["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            continue
        out[name] = a.reshape(v["shape"]).astype(np.float64)
    return out


def families(model):
    fam = {}
    for name, w in model.items():
        m = re.match(r"blocks\.(\d+)\.(.+)$", name)
        if m and w.ndim == 2 and min(w.shape) > 8:
            fam.setdefault(m.group(2), []).append((int(m.group(1)), w))
    return {k: [w for _, w in sorted(v, key=lambda t: t[0])] for k, v in sorted(fam.items()) if len(v) > 1}


def layer_bound(ws):
    """-log2 det(R) / (2L): bits/param a linear cross-layer transform can save at most."""
    x = np.stack([w.ravel() for w in ws])            # L x positions
    r = np.corrcoef(x)
    sign, logdet = np.linalg.slogdet(r)
    return -logdet / np.log(2) / (2 * len(ws)), float(np.max(np.abs(r - np.eye(len(ws)))))


def mean_base_gain(ws, bits):
    """Gaussian price of mean base + deltas against coding each layer, at the
    distortion each layer gets at `bits` bits/param coded alone (bits/param of
    the family; negative = it costs)."""
    L = len(ws)
    var = np.array([w.var() for w in ws])
    d = var * 2.0 ** (-2 * bits)                     # per-layer distortion at `bits`
    mean = np.mean(ws, axis=0)
    alone = sum(0.5 * np.log2(v / dd) for v, dd in zip(var, d))
    # Base at distortion dmin/L (its error adds to every layer's), deltas at
    # the rest; the split that minimises the rate is searched on a grid.
    best = None
    dmin = d.min()
    for f in np.linspace(0.02, 0.98, 49):
        db = f * dmin
        rb = max(0.0, 0.5 * np.log2(mean.var() / db))
        rd = sum(max(0.0, 0.5 * np.log2((w - mean).var() / (dd - db))) for w, dd in zip(ws, d))
        r = (rb + rd) / L
        best = r if best is None else min(best, r)
    return alone / L - best


def align_mlp(fc, proj):
    """Greedy permutation of each layer's hidden units to the previous layer's
    (fc rows and proj columns together). Returns the aligned lists."""
    out_fc, out_proj = [fc[0]], [proj[0]]
    for l in range(1, len(fc)):
        prev = np.concatenate([out_fc[-1], out_proj[-1].T], axis=1)
        cur = np.concatenate([fc[l], proj[l].T], axis=1)
        a = (prev - prev.mean(1, keepdims=True)) / (prev.std(1, keepdims=True) + 1e-12)
        b = (cur - cur.mean(1, keepdims=True)) / (cur.std(1, keepdims=True) + 1e-12)
        c = a @ b.T / a.shape[1]                     # unit i of prev vs unit j of cur
        n = c.shape[0]
        order = np.argsort(-c, axis=None)
        taken_i, taken_j, perm = np.zeros(n, bool), np.zeros(n, bool), np.full(n, -1)
        left = n
        for flat in order:
            i, j = divmod(int(flat), n)
            if taken_i[i] or taken_j[j]:
                continue
            perm[i], taken_i[i], taken_j[j] = j, True, True
            left -= 1
            if left == 0:
                break
        out_fc.append(fc[l][perm])
        out_proj.append(proj[l][:, perm])
    return out_fc, out_proj


def column_gain(ws):
    """Mean over layers of the held-out shared column basis's coding gain (bits/param)."""
    norm = [w / (np.sqrt((w ** 2).mean(1, keepdims=True)) + 1e-30) for w in ws]
    covs = [n.T @ n / n.shape[0] for n in norm]
    full = []
    for l, s in enumerate(covs):
        others = sum(c for k, c in enumerate(covs) if k != l) / (len(covs) - 1)
        _, v = np.linalg.eigh(others)
        t = np.einsum("ji,jk,ki->i", v, s, v)        # diag(V^T S V)
        dj = np.log2(np.diag(s)).sum()
        full.append((dj - np.log2(np.maximum(t, 1e-300)).sum()) / (2 * s.shape[0]))
    return float(np.mean(full))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="+")
    ap.add_argument("--bits", type=float, default=2.5, help="rate the mean base is priced at (default 2.5)")
    ap.add_argument("--out", help="write PREFIX.tsv")
    a = ap.parse_args()
    rows = []
    for path in a.model:
        model = load_safetensors(path)
        fam = families(model)
        if not fam:
            sys.exit(f"shared_basis: {path}: no blocks.N.* matrix family with 2 or more layers")
        aligned, control = {}, {}
        if "mlp.fc.weight" in fam and "mlp.proj.weight" in fam:
            fc, proj = fam["mlp.fc.weight"], fam["mlp.proj.weight"]
            afc, aproj = align_mlp(fc, proj)
            aligned = {"mlp.fc.weight": afc, "mlp.proj.weight": aproj}
            rng = np.random.default_rng(0)
            cfc, cproj = align_mlp([rng.standard_normal(w.shape) for w in fc],
                                   [rng.standard_normal(w.shape) for w in proj])
            control = {"mlp.fc.weight": cfc, "mlp.proj.weight": cproj}
        total_params = sum(w.size for w in model.values())
        print(f"\n{path}: {total_params} params; bits/param a shared basis can save at most (Gaussian bound)")
        hdr = ("family", "layers", "params", "max |corr|", "layers bound", "aligned bound", "iid control",
               f"mean base @{a.bits:g}", "shared cols (held out)", "bytes at most")
        print("| " + " | ".join(hdr) + " |")
        print("|" + "---|" * len(hdr))
        tot_bytes = 0.0
        for name, ws in fam.items():
            params = sum(w.size for w in ws)
            lb, mc = layer_bound(ws)
            ab = layer_bound(aligned[name])[0] if name in aligned else float("nan")
            mb = mean_base_gain(ws, a.bits)
            cb = layer_bound(control[name])[0] if name in control else float("nan")
            cg = column_gain(ws)
            best = max(lb, 0.0 if np.isnan(ab) else ab, cg, 0.0)
            tot_bytes += best * params / 8
            row = (name, len(ws), params, f"{mc:.4f}", f"{lb:.5f}", "-" if np.isnan(ab) else f"{ab:.5f}",
                   "-" if np.isnan(cb) else f"{cb:.5f}", f"{mb:+.5f}", f"{cg:+.5f}", f"{best * params / 8:.0f}")
            print("| " + " | ".join(str(x) for x in row) + " |")
            rows.append((path,) + row)
        budget = a.bits * total_params / 8
        print(f"at most {tot_bytes:.0f} bytes saved in all (the largest bound of each family): "
              f"{100 * tot_bytes / budget:.3f} % of {budget:.0f} bytes ({a.bits:g} bits/param)")
    if a.out:
        with open(a.out + ".tsv", "w") as f:
            f.write("model\tfamily\tlayers\tparams\tmax_abs_corr\tlayers_bound\taligned_bound\tiid_control\t"
                    "mean_base_gain\tshared_cols_gain\tbytes_at_most\n")
            for r in rows:
                f.write("\t".join(str(x) for x in r) + "\n")


if __name__ == "__main__":
    main()
