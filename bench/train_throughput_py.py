#!/usr/bin/env python3
"""Python-eager PyTorch training throughput of the Parameter Golf baseline GPT.

Companion of golfpack's C++ training benchmark: same architecture (the
independent reference model in tests/golden/reference_gpt.py), float32, CPU.

Example (the 17M Parameter Golf baseline shape):
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/train_throughput_py.py \
      --layers 9 --dim 512 --heads 8 --kv-heads 4 --mlp-mult 2 --vocab 1024 \
      --seq-len 1024 --batch 2 --steps 3 --warmup-steps 1 --json

Prints one JSON line:
  {"impl":"python-eager","params":N,"tokens_per_s":...,"ms_per_step":...,"seq_len":...,"batch":...,
   ...,"cpu_s":...,"cores_used":...}
cores_used = (user + sys CPU seconds of the whole process) / wall seconds over
the timed steps: 2.0 means both cores of a 2-core machine were busy.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
import reference_gpt as ref  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--mlp-mult", type=int, default=2)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=8, help="sequences per step")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup-steps", type=int, default=2, help="untimed steps before timing")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads and OpenBLAS threads")
    p.add_argument("--blas-threads", type=int, default=0,
                   help="OpenBLAS threads (default: --threads; -1: leave as OPENBLAS_NUM_THREADS says)")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--untied", action="store_true", help="untied lm_head (default: tied, as PG)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--json", action="store_true", help="print only the JSON result line")
    return p.parse_args(argv)


def set_openblas_threads(n):
    """Debian's torch does its float32 GEMMs in OpenBLAS, whose thread pool
    torch.set_num_threads does not size; set it as golfpack does (n < 0: leave
    it). Returns the OpenBLAS thread count, or -1 when OpenBLAS is not loaded."""
    try:
        # libtorch_cpu loaded it privately (RTLD_LOCAL); dlopen by soname finds that copy.
        blas = ctypes.CDLL("libopenblas.so.0")
        if n >= 0:
            blas.openblas_set_num_threads(ctypes.c_int(n))
        return int(blas.openblas_get_num_threads())
    except (OSError, AttributeError):
        return -1


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    blas_threads = set_openblas_threads(args.threads if args.blas_threads == 0 else args.blas_threads)
    torch.manual_seed(args.seed)
    config = {
        "vocab_size": args.vocab, "num_layers": args.layers, "model_dim": args.dim,
        "num_heads": args.heads, "num_kv_heads": args.kv_heads, "mlp_mult": args.mlp_mult,
        "tie_embeddings": not args.untied, "logit_softcap": 30.0, "rope_base": 10000.0,
    }
    model = ref.GPT(config)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    # Simplification: a single torch.optim.Adam over ALL parameters. Parameter
    # Golf trains block matrices with Muon and the rest with Adam; Muon's
    # Newton-Schulz cost is not modelled here.
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    gen = torch.Generator().manual_seed(args.seed + 1)
    total = args.warmup_steps + args.steps
    batches = []
    for _ in range(total):
        ids = torch.randint(0, args.vocab, (args.batch, args.seq_len + 1), generator=gen)
        batches.append((ids[:, :-1].contiguous(), ids[:, 1:].contiguous()))

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(args.warmup_steps):
        loss = step(*batches[i])
        if not args.json:
            print(f"warmup {i + 1}/{args.warmup_steps} loss {loss:.4f}", file=sys.stderr)

    t0 = time.perf_counter()
    c0 = time.process_time()  # user + sys of every thread of this process
    for i in range(args.steps):
        loss = step(*batches[args.warmup_steps + i])
        if not args.json:
            print(f"step {i + 1}/{args.steps} loss {loss:.4f}", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    cpu_s = time.process_time() - c0

    steps = max(args.steps, 1)
    ms_per_step = 1000.0 * elapsed / steps
    tokens = args.batch * args.seq_len * args.steps
    result = {
        "impl": "python-eager",
        "params": n_params,
        "tokens_per_s": tokens / elapsed if elapsed > 0 else 0.0,
        "ms_per_step": ms_per_step,
        "seq_len": args.seq_len,
        "batch": args.batch,
        "layers": args.layers,
        "dim": args.dim,
        "threads": args.threads,
        "blas_threads": blas_threads,
        "cpu_s": cpu_s,
        "cores_used": cpu_s / elapsed if elapsed > 0 else 0.0,
        "steps": args.steps,
        "final_loss": loss if args.steps else None,
        "torch": torch.__version__,
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
