#!/usr/bin/env python3
"""How much of a packed artifact's error is a shrinkage of each row.

    bench/tcq_shrink.py MODEL CALIB A.gpk [B.gpk ...] [--tsv OUT]

For every 2-D matrix with a Hessian in CALIB (a `golfpack calibrate` file:
`blocks.N.attn_in`, `attn.proj_in`, `mlp_in`, `mlp.proj_in`, and `head_in`
for the tied embedding), with W the model's weights, Q what the artifact
decodes to and E = W - Q:

  alpha_H  = tr(E H W^T) / tr(W H W^T): the part of W's output that the
             decoded layer loses as a common gain (0 for an error
             uncorrelated with the output; about D / sigma^2 for a quantizer
             near its minimum-MSE point, which shrinks);
  share_H  = alpha_H^2 tr(W H W^T) / tr(E H E^T): that gain's share of the
             proxy;
  alpha    = <E, W> / <W, W>, the same without H.

Prints the mean over each kind of weight (`attn.c_q`, ..., `mlp.proj`,
`tok_emb`), per artifact, and with --tsv writes one row per artifact, kind
and weight. Needs numpy (python3-numpy) and python/golfpack_decode.py.
docs/results/structure.md, "The trellis shrinks".
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'python'))
sys.path.insert(0, HERE)
import golfpack_decode  # noqa: E402
from shared_basis import load_safetensors  # noqa: E402


def site(name):
    if name == 'tok_emb.weight':
        return 'head_in'
    parts = name.split('.')
    if len(parts) < 4 or parts[0] != 'blocks':
        return None
    p = 'blocks.' + parts[1] + '.'
    if '.attn.c_' in name:
        return p + 'attn_in'
    if '.attn.proj.' in name:
        return p + 'attn.proj_in'
    if '.mlp.fc.' in name:
        return p + 'mlp_in'
    if '.mlp.proj.' in name:
        return p + 'mlp.proj_in'
    return None


def kind(name):
    return 'tok_emb' if name == 'tok_emb.weight' else '.'.join(name.split('.')[2:-1])


def main():
    args = sys.argv[1:]
    tsv = None
    if '--tsv' in args:
        i = args.index('--tsv')
        tsv = args[i + 1]
        del args[i:i + 2]
    if len(args) < 3:
        sys.exit(__doc__)
    model = load_safetensors(args[0])
    calib = load_safetensors(args[1])
    rows = []
    for path in args[2:]:
        art = golfpack_decode.decode(path)
        per_kind = {}
        for name in sorted(art):
            q = np.asarray(art[name], dtype=np.float64)
            s = site(name)
            if q.ndim != 2 or s is None or s not in calib or name not in model:
                continue
            h = calib[s].astype(np.float64)
            w = model[name].astype(np.float64)
            e = w - q
            wh = w @ h
            whw = float(np.sum(w * wh))
            d = float(np.einsum('ij,jk,ik->', e, h, e))
            if not (whw > 0 and d > 0):
                continue
            a_h = float(np.sum(e * wh)) / whw
            share = a_h * a_h * whw / d
            a = float(np.sum(e * w) / np.sum(w * w))
            rows.append((os.path.basename(path), kind(name), name, a_h, share, a))
            per_kind.setdefault(kind(name), []).append((a_h, share, a))
        print(f'## {path}')
        for k, v in per_kind.items():
            m = np.mean(np.array(v), axis=0)
            print(f'{k:10s} n={len(v):2d}  alpha_H {m[0]:7.4f}  share_H {m[1]:6.3f}  alpha {m[2]:7.4f}')
    if tsv:
        with open(tsv + '.tmp', 'w') as f:
            f.write('artifact\tkind\tweight\talpha_H\tshare_H\talpha\n')
            for r in rows:
                f.write('%s\t%s\t%s\t%.5f\t%.5f\t%.5f\n' % r)
        os.replace(tsv + '.tmp', tsv)


if __name__ == '__main__':
    main()
