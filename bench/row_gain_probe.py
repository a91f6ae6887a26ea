#!/usr/bin/env python3
"""Reset each row's gain of a decoded artifact in each row's own metric.

    bench/row_gain_probe.py MODEL SHARD START NSEQ DECODED.safetensors OUT.safetensors FRACTION [SKIP,...]

Sums V = sum_t ((dL/dy)^2 * y) x^T per block matrix over NSEQ sequences of
256 tokens of SHARD from token START (what `golfpack calibrate` stores as
row_hw: row r is H_r w_r^T, H_r = sum_t (dL/dy_r)^2 x x^T), then multiplies
each row q_r of the decoded matrices (`golfpack unpack`) by
1 + FRACTION * (gamma_r - 1), gamma_r = (w_r . v_r) / (q_r . v_r), clamped to
[0.5, 2] as the codec's correction is, and writes the result for
`golfpack eval`. Matrices whose name contains one of SKIP keep theirs. The
tied embedding keeps its rows (it has no row metric). With FRACTION 1 each
row's error has no component along w_r in H_r: what rd's tcq path does for
its candidates with `--tcq-debias 1`, here on any artifact.
docs/results/structure.md, "What the shrinkage costs: the rows' own Hessians".
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'golden'))
sys.path.insert(0, HERE)
import reference_gpt as R  # noqa: E402
from row_hessian import SEQ, config_of  # noqa: E402


def main():
    if len(sys.argv) < 8:
        sys.exit(__doc__)
    model_path, shard, start, nseq, qpath, out, frac = sys.argv[1:8]
    start, nseq, frac = int(start), int(nseq), float(frac)
    skip = [s for s in sys.argv[8].split(',') if s] if len(sys.argv) > 8 else []
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))
    W, meta = R.load_safetensors(model_path, with_metadata=True)
    model = R.GPT(config_of(meta, model_path))
    model.load_state_dict({k: v.float() for k, v in W.items()})
    model.eval()
    toks = np.fromfile(shard, dtype=np.uint16, offset=1024)[start:start + nseq * SEQ + 1].astype(np.int64)
    if len(toks) < nseq * SEQ + 1:
        sys.exit(f'{shard}: fewer than {nseq * SEQ + 1} tokens from {start}')
    X = torch.tensor(toks[:-1]).view(nseq, SEQ)
    Y = torch.tensor(toks[1:]).view(nseq, SEQ)
    mods = {n + '.weight': m for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and n.startswith('blocks.')}
    V = {n: torch.zeros(m.weight.shape, dtype=torch.float64) for n, m in mods.items()}

    def hook(name):
        def f(m, i, o):
            x = i[0].detach().reshape(-1, i[0].shape[-1]).double()
            z = o.detach().reshape(-1, o.shape[-1]).double()
            o.register_hook(lambda g: V[name].add_((g.detach().reshape(-1, g.shape[-1]).double() ** 2 * z).T @ x))
        return f

    handles = [m.register_forward_hook(hook(n)) for n, m in mods.items()]
    for i in range(0, nseq, 8):
        model.zero_grad()
        R.loss_from_logits(model.logits(X[i:i + 8]), Y[i:i + 8], reduction='sum').backward()
    for h in handles:
        h.remove()
    Q = R.load_safetensors(qpath)
    res = {}
    for k, q in Q.items():
        if k in V and not any(s in k for s in skip):
            w, q64, v = W[k].double(), q.double(), V[k]
            g = (w * v).sum(1) / (q64 * v).sum(1)
            g = 1 + frac * (g - 1)
            g = torch.where(torch.isfinite(g) & (g >= 0.5) & (g <= 2), g, torch.ones_like(g))
            print(f'{k:28s} gain mean {g.mean().item():.4f} min {g.min().item():.3f} max {g.max().item():.3f}')
            res[k] = (q64 * g[:, None]).float()
        else:
            res[k] = q.float()
    R.save_safetensors(out + '.tmp', res, meta)
    os.replace(out + '.tmp', out)


if __name__ == '__main__':
    main()
