#!/usr/bin/env python3
"""What a packed artifact's error costs each block matrix, by four quadratic
estimates, on the same tokens.

    bench/row_hessian.py MODEL SHARD START NSEQ A.gpk|A.safetensors [...] [--measure] [--tsv OUT]

Runs the model (tests/golden/reference_gpt.py, float32, CPU) on NSEQ
sequences of 256 tokens of SHARD (a Parameter Golf .bin shard) from token
START, with L the cross-entropy summed over the tokens, and keeps per block
matrix the input x and g = dL/dy of its output y = W x at every token. With
E = W - Q (Q what the artifact decodes to), per token dy = -E x, and N tokens:

  proxy  = 1/2 sum_r F_r e_r H e_r^T: rd's proxy, the row Fisher
           F_r = mean_t g_r^2 times H = mean_t x x^T (a Kronecker factoring that
           takes g and x to be independent);
  perrow = 1/2 sum_r e_r H_r e_r^T, H_r = mean_t g_r^2 x x^T: each row's own
           gradient-weighted Hessian (no cross-row terms);
  rank1  = proxy with H_r put in on the direction of w_r only: H_r w_r^T is
           the calibration's row_hw (plan/calibration.h), s_r = w_r H_r w_r^T,
           proxy + 1/2 sum_r [(e_r H_r w_r^T)^2 / s_r - F_r (e_r H w_r^T)^2 / (w_r H w_r^T)];
  full   = 1/2 mean_t (g_t . dy_t)^2: the per-token Fisher, cross-row terms too.

With --measure also the loss itself: mean over the same tokens with that one
matrix replaced by Q, less the model's (one forward pass per matrix).

Prints them per matrix and, per kind of matrix (c_q, c_k, c_v, attn.proj, fc,
mlp.proj), their sums and the ratios to the proxy; --tsv writes one row per
artifact and matrix. A ratio above 1 is loss the proxy does not see; when
rank1 tracks perrow, it sits on the direction of the weights (a lost gain).
Needs numpy and torch (python3-numpy, python3-torch).
docs/results/structure.md, "What the shrinkage costs: the rows' own Hessians".
"""
import os
import re
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'golden'))
sys.path.insert(0, os.path.join(HERE, '..', 'python'))
import reference_gpt as R  # noqa: E402

KINDS = ['c_q', 'c_k', 'c_v', 'attn.proj', 'fc', 'mlp.proj']
SEQ = 256


def config_of(meta, path):
    # golfpack's model metadata: "6L d256 h4 kv2 mlp2x vocab1024 tied"
    m = re.fullmatch(r'(\d+)L d(\d+) h(\d+) kv(\d+) mlp(\d+)x vocab(\d+) (tied|untied)',
                     meta.get('golfpack.config', ''))
    if not m:
        sys.exit(f'{path}: no golfpack.config metadata of the form "6L d256 h4 kv2 mlp2x vocab1024 tied"')
    L, d, h, kv, mult, vocab, tied = m.groups()
    return dict(vocab_size=int(vocab), num_layers=int(L), model_dim=int(d), num_heads=int(h),
                num_kv_heads=int(kv), mlp_mult=int(mult), tie_embeddings=tied == 'tied')


def load_artifact(path):
    if path.endswith('.gpk'):
        import golfpack_decode as gd
        return {k: torch.tensor(np.asarray(v, dtype=np.float32)) for k, v in gd.decode(path).items()}
    return R.load_safetensors(path)


def main():
    args = sys.argv[1:]
    tsv = None
    measure = '--measure' in args
    if measure:
        args.remove('--measure')
    if '--tsv' in args:
        i = args.index('--tsv')
        tsv = args[i + 1]
        del args[i:i + 2]
    if len(args) < 5:
        sys.exit(__doc__)
    model_path, shard, start, nseq, arts = args[0], args[1], int(args[2]), int(args[3]), args[4:]
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
    ins, gouts = {}, {}

    def hook(name):
        def f(m, i, o):
            ins[name] = i[0].detach().reshape(-1, i[0].shape[-1])
            o.register_hook(lambda g: gouts.__setitem__(name, g.detach().reshape(-1, g.shape[-1])))
        return f

    handles = [m.register_forward_hook(hook(n)) for n, m in mods.items()]
    xs = {n: [] for n in mods}
    gs = {n: [] for n in mods}
    for i in range(0, nseq, 8):
        model.zero_grad()
        R.loss_from_logits(model.logits(X[i:i + 8]), Y[i:i + 8], reduction='sum').backward()
        for n in mods:
            xs[n].append(ins[n].double())
            gs[n].append(gouts[n].double())
    for h in handles:
        h.remove()
    N = nseq * SEQ

    def loss_mean():
        with torch.no_grad():
            return sum(R.loss_from_logits(model.logits(X[i:i + 8]), Y[i:i + 8], reduction='sum').item()
                       for i in range(0, nseq, 8)) / N

    base = loss_mean() if measure else 0.0
    S = {}
    for n, m in mods.items():
        x, g, w = torch.cat(xs[n]), torch.cat(gs[n]), m.weight.data.double()
        z = x @ w.T
        S[n] = dict(x=x, g=g, H=x.T @ x / N, F=(g * g).mean(0), V=(g * g * z).T @ x / N)
        xs[n] = gs[n] = None
    rows_out = []
    for a in arts:
        Q = load_artifact(a)
        print(f'## {a}  ({N} tokens of {os.path.basename(shard)} from {start})')
        print(f'{"matrix":28s} {"proxy":>9s} {"perrow":>9s} {"rank1":>9s} {"full":>9s} {"measured":>9s}')
        agg = {k: np.zeros(5) for k in KINDS}
        for n, m in mods.items():
            if n not in Q:
                continue
            s, w = S[n], m.weight.data.double()
            E = w - Q[n].double()
            ex = s['x'] @ E.T
            proxy = 0.5 * (s['F'] * torch.einsum('ij,jk,ik->i', E, s['H'], E)).sum().item()
            perrow = 0.5 * (s['g'] ** 2 * ex ** 2).sum().item() / N
            full = 0.5 * ((s['g'] * ex).sum(1) ** 2).sum().item() / N
            eHw = torch.einsum('ij,jk,ik->i', E, s['H'], w)
            wHw = torch.einsum('ij,jk,ik->i', w, s['H'], w)
            ev = (E * s['V']).sum(1)
            sr = (w * s['V']).sum(1)
            ok = (sr > 0) & (wHw > 0)
            rank1 = proxy + 0.5 * (ev[ok] ** 2 / sr[ok] - s['F'][ok] * eHw[ok] ** 2 / wHw[ok]).sum().item()
            meas = float('nan')
            if measure:
                keep = m.weight.data.clone()
                m.weight.data.copy_(Q[n].float())
                meas = loss_mean() - base
                m.weight.data.copy_(keep)
            kind = next(k for k in KINDS if '.' + k + '.' in n)
            agg[kind] += [proxy, perrow, rank1, full, meas]
            rows_out.append((a, n, kind, proxy, perrow, rank1, full, meas))
            print(f'{n:28s} {proxy:9.6f} {perrow:9.6f} {rank1:9.6f} {full:9.6f} {meas:9.6f}')
        for k in KINDS:
            p, pr, r1, f, me = agg[k]
            if p > 0:
                print(f'  {k:10s} proxy {p:9.6f}   perrow / proxy {pr / p:5.2f}   rank1 / proxy {r1 / p:5.2f}'
                      f'   full / proxy {f / p:5.2f}' + (f'   measured / proxy {me / p:5.2f}' if measure else ''))
    if tsv:
        with open(tsv + '.tmp', 'w') as f:
            f.write('artifact\tmatrix\tkind\tproxy\tperrow\trank1\tfull\tmeasured\n')
            for r in rows_out:
                f.write('\t'.join(r[:3]) + '\t' + '\t'.join(f'{v:.6g}' for v in r[3:]) + '\n')
        os.replace(tsv + '.tmp', tsv)


if __name__ == '__main__':
    main()
