#!/usr/bin/env python3
"""Train a Parameter Golf baseline-shape GPT on PG token shards, write it as
safetensors with the PG tensor names, golfpack-loadable.

The forward pass is exactly golfpack's (src/model/gpt.cpp), so
`golfpack eval` of the written file reproduces the loss printed here:
  x = rms_norm(tok_emb[ids]); x0 = x
  block(x): x = resid_mix[0]*x + resid_mix[1]*x0
            x = x + attn_scale * attn(rms_norm(x))
            x = x + mlp_scale  * mlp(rms_norm(x))
  attn: q,k,v = c_q/c_k/c_v(h); q = rope(rms_norm(q)) * q_gain; k = rope(rms_norm(k));
        causal softmax(q k^T / sqrt(hd)) v with GQA (query head h reads kv head h // group); proj
        rope: rotate-half on the two halves, (x1 cos + x2 sin, x2 cos - x1 sin), base 10000
  mlp:  proj(relu(fc(h))^2)
  first L//2 blocks are the encoder; decoder block i first adds skip_weights[i] * (encoder
  outputs, last first); final rms_norm; logits = 30 tanh((h @ tok_emb^T) / 30); cross-entropy.
  rms_norm has no weight and eps = float32 machine epsilon (F.rms_norm's default for f32).

Optimisers (as PG's train_gpt.py): Muon (Newton-Schulz 5, nesterov, momentum 0.85 -> 0.95
warm-up) on the 2-D block matrices; Adam (betas 0.9/0.95) on the tied embedding and on the
control tensors (q_gain, attn_scale, mlp_scale, resid_mix, skip_weights). bf16 autocast on
CUDA, float32 master weights. LR: linear warm-up, constant, then a linear warm-down to 0.
The warm-down starts when either (a) the time limit gets close (the last --warmdown-frac of
it, by measured step time), (b) --max-epochs gets close, or (c) the validation loss
(measured every --val-every steps) has not improved for --patience evaluations (the model
has started to memorise the small train split): then the warm-down lasts
warmdown_frac / (1 - warmdown_frac) times the steps done so far.

At the end the weights are rounded to the export dtype (--export-dtype: matrices and the
embedding in f16 by default, control tensors always f32), loaded back, and the validation
loss (mean cross-entropy in nats per target token, PG truncation
((N-1)//seq)*seq + 1 tokens) is measured in plain float32 (no autocast, no TF32): that is
the number golfpack eval must reproduce. It also prints the loss on the first
--prefix-tokens tokens (= golfpack eval --max-tokens).

Torch-free helper: `pg_train_torch.py --to-f32 IN OUT` rewrites a safetensors file with
every F16/BF16 tensor widened to F32 (numpy only).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import struct
import sys
import time

import numpy as np

# ----------------------------------------------------------------------------- safetensors


def read_safetensors_raw(path):
    """-> (metadata dict, [(name, dtype str, shape, bytes)]) in file order."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    items = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    out = []
    for name, e in items:
        b, en = e["data_offsets"]
        out.append((name, e["dtype"], list(e["shape"]), data[b:en]))
    return meta, out


def write_safetensors_raw(path, tensors, metadata=None):
    """tensors: [(name, dtype str, shape, bytes)]; written atomically."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    off = 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, raw in tensors:
            f.write(raw)
    os.replace(tmp, path)


def widen_to_f32(src, dst):
    meta, items = read_safetensors_raw(src)
    out = []
    for name, dt, shape, raw in items:
        if dt == "F16":
            raw = np.frombuffer(raw, dtype="<f2").astype("<f4").tobytes()
        elif dt == "BF16":
            raw = (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).tobytes()
        elif dt != "F32":
            raise SystemExit(f"{src}: tensor {name}: cannot widen dtype {dt}")
        out.append((name, "F32", shape, raw))
    meta = dict(meta)
    meta["widened_from"] = os.path.basename(src)
    write_safetensors_raw(dst, out, meta)


# ----------------------------------------------------------------------------- shards


def load_shard(path):
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(1024), dtype="<i4")
        if header.size != 256 or header[0] != 20240520 or header[1] != 1:
            raise SystemExit(f"{path}: not a PG token shard (header {header[:3].tolist()})")
        n = int(header[2])
        toks = np.frombuffer(f.read(2 * n), dtype="<u2")
    if toks.size != n:
        raise SystemExit(f"{path}: expected {n} tokens, read {toks.size}")
    return toks


def load_split(pattern):
    files = sorted(glob.glob(pattern))
    if not files:
        raise SystemExit(f"no shards match {pattern}")
    return np.concatenate([load_shard(p) for p in files]), files


# ----------------------------------------------------------------------------- model

F32_EPS = float(np.finfo(np.float32).eps)
CONTROL_PATTERNS = ("attn_scale", "mlp_scale", "resid_mix", "q_gain", "skip_weight")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--to-f32", nargs=2, metavar=("IN", "OUT"), help="only widen a safetensors file to F32 (no torch)")
    p.add_argument("--data", default=".gpu", help="directory with fineweb_{train,val}_*.bin")
    p.add_argument("--out", default="model.safetensors")
    p.add_argument("--metrics", default="", help="also write the results as JSON here")
    p.add_argument("--time-limit", type=float, default=300.0, help="training wall-clock seconds")
    p.add_argument("--max-epochs", type=float, default=0.0, help="> 0: also stop after this many train epochs")
    p.add_argument("--layers", type=int, default=9)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--mlp-mult", type=int, default=2)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--batch-seqs", type=int, default=64, help="sequences per optimiser step")
    p.add_argument("--eval-batch-seqs", type=int, default=32)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--warmdown-frac", type=float, default=0.3)
    p.add_argument("--val-every", type=int, default=25, help="steps between validation losses (0: never)")
    p.add_argument("--patience", type=int, default=4, help="evals without improvement that start the warm-down")
    p.add_argument("--min-steps", type=int, default=150, help="no early warm-down before this step")
    p.add_argument("--val-max-tokens", type=int, default=0, help="> 0: in-training validation on a prefix only")
    p.add_argument("--prefix-tokens", type=int, default=65536, help="also report the loss on this val prefix")
    p.add_argument("--matrix-lr", type=float, default=0.04)
    p.add_argument("--scalar-lr", type=float, default=0.04)
    p.add_argument("--tied-embed-lr", type=float, default=0.05)
    p.add_argument("--muon-momentum", type=float, default=0.95)
    p.add_argument("--muon-momentum-start", type=float, default=0.85)
    p.add_argument("--muon-momentum-warmup-steps", type=int, default=500)
    p.add_argument("--muon-steps", type=int, default=5)
    p.add_argument("--export-dtype", choices=["f16", "bf16", "f32"], default="f16")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default="", help="default: cuda if available, else cpu")
    p.add_argument("--log-every", type=int, default=25)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.to_f32:
        widen_to_f32(*args.to_f32)
        print(f"wrote {args.to_f32[1]}")
        return 0

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = dev.type == "cuda"
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    has_sdpa = hasattr(F, "scaled_dot_product_attention")

    def rms_norm(x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + F32_EPS)).to(x.dtype)

    def apply_rope(x, cos, sin):
        half = x.size(-1) // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)

    def causal_attention(q, k, v):
        """q [B,H,T,hd], k/v [B,KV,T,hd] -> [B,H,T,hd]; head h reads kv head h // group."""
        group = q.size(1) // k.size(1)
        if has_sdpa:
            try:
                return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=group > 1)
            except (TypeError, RuntimeError):  # torch < 2.5: no enable_gqa; or no kernel for it
                pass
        if group > 1:
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
        if has_sdpa:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        T = q.size(2)
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
        return torch.softmax(s.masked_fill(mask, float("-inf")).float(), dim=-1).to(v.dtype) @ v

    class Attention(nn.Module):
        def __init__(self, d, heads, kv_heads):
            super().__init__()
            self.heads, self.kv_heads, self.hd = heads, kv_heads, d // heads
            self.c_q = nn.Linear(d, d, bias=False)
            self.c_k = nn.Linear(d, kv_heads * self.hd, bias=False)
            self.c_v = nn.Linear(d, kv_heads * self.hd, bias=False)
            self.proj = nn.Linear(d, d, bias=False)
            self.q_gain = nn.Parameter(torch.full((heads,), 1.5))

        def forward(self, x, cos, sin):
            B, T, D = x.shape
            q = self.c_q(x).view(B, T, self.heads, self.hd).transpose(1, 2)
            k = self.c_k(x).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
            v = self.c_v(x).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
            q = apply_rope(rms_norm(q), cos, sin) * self.q_gain.view(1, -1, 1, 1)
            k = apply_rope(rms_norm(k), cos, sin)
            y = causal_attention(q.to(v.dtype), k.to(v.dtype), v)
            return self.proj(y.transpose(1, 2).reshape(B, T, D))

    class MLP(nn.Module):
        def __init__(self, d, mult):
            super().__init__()
            self.fc = nn.Linear(d, mult * d, bias=False)
            self.proj = nn.Linear(mult * d, d, bias=False)

        def forward(self, x):
            return self.proj(torch.relu(self.fc(x)).square())

    class Block(nn.Module):
        def __init__(self, d, heads, kv_heads, mult):
            super().__init__()
            self.attn = Attention(d, heads, kv_heads)
            self.mlp = MLP(d, mult)
            self.attn_scale = nn.Parameter(torch.ones(d))
            self.mlp_scale = nn.Parameter(torch.ones(d))
            self.resid_mix = nn.Parameter(torch.stack((torch.ones(d), torch.zeros(d))))

        def forward(self, x, x0, cos, sin):
            x = self.resid_mix[0] * x + self.resid_mix[1] * x0
            x = x + self.attn_scale * self.attn(rms_norm(x), cos, sin)
            return x + self.mlp_scale * self.mlp(rms_norm(x))

    class GPT(nn.Module):
        def __init__(self, a):
            super().__init__()
            d = a.dim
            self.n_enc = a.layers // 2
            self.n_dec = a.layers - self.n_enc
            self.tok_emb = nn.Embedding(a.vocab, d)
            self.blocks = nn.ModuleList(Block(d, a.heads, a.kv_heads, a.mlp_mult) for _ in range(a.layers))
            self.skip_weights = nn.Parameter(torch.ones(min(self.n_enc, self.n_dec), d))
            hd = d // a.heads
            inv_freq = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
            self.register_buffer("inv_freq", inv_freq, persistent=False)
            with torch.no_grad():
                nn.init.normal_(self.tok_emb.weight, mean=0.0, std=0.005)
                for b in self.blocks:
                    b.attn.proj.weight.zero_()
                    b.mlp.proj.weight.zero_()
            self._rope = None

        def rope(self, T):
            if self._rope is None or self._rope[0] != T or self._rope[1].device != self.inv_freq.device:
                t = torch.arange(T, dtype=torch.float32, device=self.inv_freq.device)
                f = torch.outer(t, self.inv_freq)
                self._rope = (T, f.cos()[None, None], f.sin()[None, None])
            return self._rope[1], self._rope[2]

        def forward(self, ids, targets, reduction="mean"):
            cos, sin = self.rope(ids.size(1))
            x = rms_norm(self.tok_emb(ids))
            x0 = x
            skips = []
            for i in range(self.n_enc):
                x = self.blocks[i](x, x0, cos, sin)
                skips.append(x)
            for i in range(self.n_dec):
                if skips:
                    x = x + self.skip_weights[i] * skips.pop()
                x = self.blocks[self.n_enc + i](x, x0, cos, sin)
            h = rms_norm(x).reshape(-1, x.size(-1))
            logits = F.linear(h, self.tok_emb.weight).float()
            logits = 30.0 * torch.tanh(logits / 30.0)
            return F.cross_entropy(logits, targets.reshape(-1), reduction=reduction)

    # ------------------------------------------------------------------ Muon
    def zeropower_ns5(G, steps):
        """Batched Newton-Schulz orthogonalisation of G [n, r, c] (PG's coefficients), bf16 on CUDA."""
        a, b, c = 3.4445, -4.7750, 2.0315
        X = G.to(torch.bfloat16) if cuda else G.float()
        X = X / (X.flatten(1).norm(dim=1).view(-1, 1, 1) + 1e-7)
        transposed = X.size(1) > X.size(2)
        if transposed:
            X = X.transpose(1, 2)
        for _ in range(steps):
            A = X @ X.transpose(1, 2)
            Bm = b * A + c * (A @ A)
            X = a * X + Bm @ X
        if transposed:
            X = X.transpose(1, 2)
        return X

    class Muon:
        def __init__(self, params, lr, momentum, steps):
            self.lr, self.momentum, self.steps = lr, momentum, steps
            groups = {}
            for p in params:
                groups.setdefault(tuple(p.shape), []).append(p)
            self.groups = [(ps, torch.zeros((len(ps),) + tuple(ps[0].shape), device=ps[0].device)) for ps in groups.values()]

        @torch.no_grad()
        def step(self, lr_mult):
            for ps, buf in self.groups:
                g = torch.stack([p.grad for p in ps])
                buf.mul_(self.momentum).add_(g)
                g = g.add(buf, alpha=self.momentum)  # nesterov
                u = zeropower_ns5(g, self.steps)
                scale = max(1.0, ps[0].size(0) / ps[0].size(1)) ** 0.5
                u = u.to(ps[0].dtype)
                for p, ui in zip(ps, u.unbind(0)):
                    p.add_(ui, alpha=-self.lr * lr_mult * scale)

        def zero_grad(self):
            for ps, _ in self.groups:
                for p in ps:
                    p.grad = None

    # ------------------------------------------------------------------ data
    train_np, train_files = load_split(os.path.join(args.data, "fineweb_train_*.bin"))
    val_np, val_files = load_split(os.path.join(args.data, "fineweb_val_*.bin"))
    T = args.seq_len
    if int(max(train_np.max(), val_np.max())) >= args.vocab:
        raise SystemExit("token id outside the vocab")
    train = torch.from_numpy(train_np.astype(np.int64)).to(dev)
    val = torch.from_numpy(val_np.astype(np.int64)).to(dev)
    n_val_seqs = (val.numel() - 1) // T
    print(f"train {train.numel():,} tokens ({len(train_files)} files), val {val.numel():,} tokens -> "
          f"{n_val_seqs} seqs x {T} = {n_val_seqs * T:,} targets; device {dev}"
          + (f" ({torch.cuda.get_device_name(dev)})" if cuda else "") + f"; torch {torch.__version__}", flush=True)

    model = GPT(args).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params {n_params:,}", flush=True)
    names = dict(model.named_parameters())
    matrix_params = [p for n, p in names.items() if p.ndim == 2 and n.startswith("blocks.")
                     and not any(c in n for c in CONTROL_PATTERNS)]
    control_params = [p for n, p in names.items() if any(c in n for c in CONTROL_PATTERNS)]
    emb = [names["tok_emb.weight"]]
    assert len(matrix_params) + len(control_params) + 1 == len(names)
    adam_kw = dict(betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    if cuda:
        adam_kw["fused"] = True
    try:
        adam = torch.optim.Adam([{"params": emb, "lr": args.tied_embed_lr, "base_lr": args.tied_embed_lr},
                                 {"params": control_params, "lr": args.scalar_lr, "base_lr": args.scalar_lr}], **adam_kw)
    except (TypeError, RuntimeError):
        adam_kw.pop("fused", None)
        adam = torch.optim.Adam([{"params": emb, "lr": args.tied_embed_lr, "base_lr": args.tied_embed_lr},
                                 {"params": control_params, "lr": args.scalar_lr, "base_lr": args.scalar_lr}], **adam_kw)
    muon = Muon(matrix_params, args.matrix_lr, args.muon_momentum, args.muon_steps)

    def autocast():
        if cuda:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        import contextlib
        return contextlib.nullcontext()

    @torch.no_grad()
    def val_loss(max_seqs=0, use_autocast=True):
        model.eval()
        nseq = n_val_seqs if max_seqs <= 0 else min(n_val_seqs, max_seqs)
        total = torch.zeros((), dtype=torch.float64, device=dev)
        for s in range(0, nseq, args.eval_batch_seqs):
            n = min(args.eval_batch_seqs, nseq - s)
            w = val[s * T: (s + n) * T + 1]
            x, y = w[:-1].view(n, T), w[1:].view(n, T)
            if use_autocast:
                with autocast():
                    total += model(x, y, reduction="sum").double()
            else:
                total += model(x, y, reduction="sum").double()
        model.train()
        return total.item() / (nseq * T)

    # ------------------------------------------------------------------ batches
    gen = torch.Generator(device="cpu")
    gen.manual_seed(args.seed)
    order, pos, epoch_phase = None, 0, 0

    def next_batch():
        nonlocal order, pos, epoch_phase
        idx = []
        while len(idx) < args.batch_seqs:
            if order is None or pos >= order.numel():
                epoch_phase = int(torch.randint(0, T, (1,), generator=gen))
                nchunks = (train.numel() - 1 - epoch_phase) // T
                order = torch.randperm(nchunks, generator=gen)
                pos = 0
            take = min(args.batch_seqs - len(idx), order.numel() - pos)
            idx.extend((order[pos:pos + take] * T + epoch_phase).tolist())
            pos += take
        starts = torch.tensor(idx, dtype=torch.int64, device=dev)
        offs = starts[:, None] + torch.arange(T + 1, device=dev)[None, :]
        w = train[offs]
        return w[:, :-1], w[:, 1:]

    # ------------------------------------------------------------------ training
    tokens_per_step = args.batch_seqs * T
    epoch_tokens = train.numel() - 1
    max_tokens = args.max_epochs * epoch_tokens if args.max_epochs > 0 else float("inf")
    wd_frac = args.warmdown_frac
    v0 = val_loss(args.val_max_tokens // T)
    print(f"step 0 val_loss {v0:.4f} (uniform would be {math.log(args.vocab):.4f})", flush=True)
    history = [(0, 0.0, v0)]
    best, since_best = v0, 0
    wd_start, wd_steps, wd_reason = None, None, ""
    step, tokens_seen, train_time = 0, 0, 0.0
    if cuda:
        torch.cuda.synchronize()
    t_start = time.perf_counter()
    loss_acc, loss_n = 0.0, 0
    while True:
        # warm-down triggers (time and epochs by the measured mean step time / tokens)
        if wd_start is None and step > 0:
            per_step = train_time / step
            left_time = args.time_limit - train_time
            left_steps_time = left_time / per_step
            left_steps_tok = (max_tokens - tokens_seen) / tokens_per_step
            total_est = step + min(left_steps_time, left_steps_tok)
            if step >= (1 - wd_frac) * total_est:
                wd_start, wd_steps = step, max(1, int(round(total_est - step)))
                wd_reason = "time limit" if left_steps_time <= left_steps_tok else "max epochs"
                print(f"step {step}: warm-down over {wd_steps} steps ({wd_reason})", flush=True)
        if wd_start is not None and step >= wd_start + wd_steps:
            break
        if train_time >= args.time_limit or tokens_seen >= max_tokens:
            wd_reason += " (hard stop)"
            break
        if step < args.warmup_steps:
            lr_mult = (step + 1) / args.warmup_steps
        elif wd_start is not None:
            lr_mult = max(0.0, 1.0 - (step - wd_start) / wd_steps)
        else:
            lr_mult = 1.0
        t0 = time.perf_counter()
        x, y = next_batch()
        with autocast():
            loss = model(x, y)
        loss.backward()
        frac = min(1.0, step / max(1, args.muon_momentum_warmup_steps))
        muon.momentum = (1 - frac) * args.muon_momentum_start + frac * args.muon_momentum
        for g in adam.param_groups:
            g["lr"] = g["base_lr"] * lr_mult
        adam.step()
        muon.step(lr_mult)
        adam.zero_grad(set_to_none=True)
        muon.zero_grad()
        step += 1
        tokens_seen += tokens_per_step
        loss_acc += loss.detach()
        loss_n += 1
        if step % args.log_every == 0 or (args.val_every and step % args.val_every == 0):
            if cuda:
                torch.cuda.synchronize()
        train_time += time.perf_counter() - t0
        if step % args.log_every == 0:
            tl = float(loss_acc) / loss_n
            loss_acc, loss_n = 0.0, 0
            print(f"step {step} epoch {tokens_seen / epoch_tokens:.2f} train_loss {tl:.4f} lr_mult {lr_mult:.3f} "
                  f"train_time {train_time:.1f}s tok/s {tokens_seen / train_time:,.0f}", flush=True)
        if args.val_every and step % args.val_every == 0:
            v = val_loss(args.val_max_tokens // T)
            history.append((step, tokens_seen / epoch_tokens, v))
            if v < best - 1e-3:
                best, since_best = v, 0
            else:
                since_best += 1
            print(f"step {step} val_loss {v:.4f} best {best:.4f} since_best {since_best}", flush=True)
            if wd_start is None and step >= args.min_steps and since_best >= args.patience:
                wd_start = step
                wd_steps = max(1, int(round(wd_frac / (1 - wd_frac) * step)))
                wd_reason = "validation plateau"
                print(f"step {step}: warm-down over {wd_steps} steps ({wd_reason})", flush=True)
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t_start
    print(f"trained {step} steps, {tokens_seen:,} tokens ({tokens_seen / epoch_tokens:.2f} epochs), "
          f"train_time {train_time:.1f}s (wall incl. evals {wall:.1f}s), warm-down: {wd_reason}", flush=True)

    # ------------------------------------------------------------------ export + exact eval
    v_bf16 = val_loss(0, use_autocast=True)
    if cuda:  # plain IEEE float32 from here on
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
    v_f32_master = val_loss(0, use_autocast=False)
    export_dt = {"f16": (torch.float16, "F16"), "bf16": (torch.bfloat16, "BF16"), "f32": (torch.float32, "F32")}
    tensors = []
    with torch.no_grad():
        for n, p in model.named_parameters():
            if any(c in n for c in CONTROL_PATTERNS) or args.export_dtype == "f32":
                tdt, sname = torch.float32, "F32"
            else:
                tdt, sname = export_dt[args.export_dtype]
            q = p.detach().to(tdt)
            if not torch.isfinite(q.float()).all():
                raise SystemExit(f"tensor {n} is not finite in {sname}")
            p.copy_(q.float())  # evaluate exactly what is written
            cpu = q.cpu().contiguous()
            raw = (cpu.view(torch.int16) if cpu.element_size() == 2 else cpu.view(torch.int32)).numpy().tobytes()
            tensors.append((n, sname, list(cpu.shape), raw))
    v_full = val_loss(0, use_autocast=False)
    prefix_seqs = args.prefix_tokens // T
    v_prefix = val_loss(prefix_seqs, use_autocast=False) if prefix_seqs > 0 else float("nan")
    results = {
        "params": n_params, "steps": step, "tokens_seen": tokens_seen, "epochs": tokens_seen / epoch_tokens,
        "train_time_s": train_time, "wall_s": wall, "warmdown_reason": wd_reason, "batch_seqs": args.batch_seqs,
        "seq_len": T, "val_targets": n_val_seqs * T, "val_loss_bf16_autocast": v_bf16,
        "val_loss_f32_master": v_f32_master, "val_loss": v_full, "export_dtype": args.export_dtype,
        "prefix_targets": prefix_seqs * T, "val_loss_prefix": v_prefix, "best_inflight_val": best,
        "history": history, "device": torch.cuda.get_device_name(dev) if cuda else "cpu", "torch": torch.__version__,
    }
    print(f"val_loss (f32, exported {args.export_dtype} weights, {n_val_seqs * T} targets) {v_full:.6f}", flush=True)
    print(f"val_loss prefix ({prefix_seqs * T} targets) {v_prefix:.6f}", flush=True)
    print(f"val_loss f32 master weights {v_f32_master:.6f}, bf16 autocast {v_bf16:.6f}", flush=True)
    meta = {"source": "bench/gpu/pg_train_torch.py", "steps": step, "tokens_seen": tokens_seen,
            "val_loss": f"{v_full:.6f}", "export_dtype": args.export_dtype}
    write_safetensors_raw(args.out, tensors, meta)
    print(f"wrote {args.out} ({os.path.getsize(args.out):,} bytes)", flush=True)
    if args.metrics:
        with open(args.metrics, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
