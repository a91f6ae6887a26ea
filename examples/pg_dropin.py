#!/usr/bin/python3
"""golfpack as a drop-in for Parameter Golf's int8 + zlib export.

Parameter Golf's train_gpt.py ends like this (abridged):

    # export
    quant_obj, quant_stats = quantize_state_dict_int8(base_model.state_dict())
    torch.save(quant_obj, quant_buf); quant_blob = zlib.compress(quant_buf.getvalue(), level=9)
    open("final_model.int8.ptz", "wb").write(quant_blob)
    # reload and score the round trip
    quant_state = torch.load(io.BytesIO(zlib.decompress(open("final_model.int8.ptz", "rb").read())))
    base_model.load_state_dict(dequantize_state_dict_int8(quant_state), strict=True)
    q_val_loss, q_val_bpb = eval_val(...)

This script does the same two steps with golfpack (see `export_gpk` and
`reload_gpk` below):

    hessians, tokens, counts = collect_hessians(base_model, batches)   # forward hooks: sum of x^T x (float64)
    calib = golfpack.calibrate(hessians, tokens, token_counts=counts)
    blob, report = golfpack.pack(base_model.state_dict(), calib, budget=BUDGET, code_bytes=CODE_BYTES)
    open("final_model.gpk", "wb").write(blob)
    state = golfpack_decode.decode("final_model.gpk")          # numpy only: ships with the submission
    base_model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)

`budget` is the counted size, file plus code (PG's cap is 16,000,000 bytes);
the code counted by default is what this submission ships: this script, the
decoder python/golfpack_decode.py and the model code tests/golden/reference_gpt.py.

The model is tests/golden/reference_gpt.py's GPT: Parameter Golf's baseline
architecture with its tensor names, so `golfpack eval final_model.gpk` scores
the same artifact with golfpack's C++ model. Training here is a short AdamW
stand-in for train_gpt.py's Muon + Adam loop (CPU is fine for tiny models).

    /usr/bin/python3 examples/pg_dropin.py --data DIR --steps N --budget B --out DIR

DIR holds tokenizer.model and fineweb_{train,val}_*.bin (`golfpack data`). The
script writes OUT/model.safetensors (the trained float32 model), OUT/final_model.gpk
and OUT/result.json (val_bpb before and after the round trip, the pack report).
"""
import argparse
import glob
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.dont_write_bytecode = True


def _load_file_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


try:
    import golfpack
except ImportError:  # not on PYTHONPATH: the build tree's copy
    sys.path.insert(0, str(ROOT / "build/python"))
    import golfpack
DECODER_PATH = ROOT / "python/golfpack_decode.py"
MODEL_PATH = ROOT / "tests/golden/reference_gpt.py"
golfpack_decode = _load_file_module("golfpack_decode", DECODER_PATH)
ref = _load_file_module("reference_gpt", MODEL_PATH)


# ----------------------------------------------------------------------------- data
def load_shard(path):
    """A Parameter Golf shard: 256 int32 header [20240520, 1, n, ...], n uint16 ids."""
    header = np.fromfile(path, dtype="<i4", count=256)
    if header.size != 256 or header[0] != 20240520 or header[1] != 1:
        raise ValueError(f"{path}: not a Parameter Golf shard")
    n = int(header[2])
    tokens = np.fromfile(path, dtype="<u2", offset=1024)
    if tokens.size != n:
        raise ValueError(f"{path}: header says {n} tokens, file has {tokens.size}")
    return tokens


def load_tokens(pattern):
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no files match {pattern}")
    return np.concatenate([load_shard(f) for f in files])


def _varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def _fields(buf):
    """(field, wire type, value) of one protobuf message (varint / bytes / fixed)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"tokenizer: unsupported protobuf wire type {wire}")
        yield field, wire, v


def build_byte_luts(tokenizer_path, vocab_size):
    """train_gpt.py's build_sentencepiece_luts, read straight from the .model
    protobuf (no sentencepiece package): base bytes per id, leading-space flag,
    boundary flag (control / unknown / unused pieces and ids past the vocab)."""
    pieces = []
    for field, wire, v in _fields(Path(tokenizer_path).read_bytes()):
        if field == 1 and wire == 2:  # ModelProto.pieces
            piece, kind = b"", 1
            for f2, w2, v2 in _fields(v):
                if f2 == 1 and w2 == 2:
                    piece = bytes(v2)
                elif f2 == 3 and w2 == 0:
                    kind = v2
            pieces.append((piece, kind))
    n = max(len(pieces), vocab_size)
    base = np.zeros(n, dtype=np.int64)
    space = np.zeros(n, dtype=bool)
    boundary = np.ones(n, dtype=bool)
    marker = "\u2581".encode()
    for i, (piece, kind) in enumerate(pieces):
        if kind in (2, 3, 5):  # UNKNOWN, CONTROL, UNUSED
            continue
        boundary[i] = False
        if kind == 6:  # BYTE
            base[i] = 1
            continue
        if piece.startswith(marker):
            space[i] = True
            piece = piece[len(marker):]
        base[i] = len(piece)
    return base, space, boundary, len(pieces)


# ----------------------------------------------------------------------------- eval
def eval_val(model, val_tokens, luts, seq_len, batch_seqs, max_tokens=0):
    """val_loss (nats/token) and val_bpb as train_gpt.py / `golfpack eval` score
    them: the stream cut to ((N - 1) // seq_len) * seq_len targets (then to
    max_tokens // seq_len sequences), float32 per-token losses summed in float64."""
    base, space, boundary = luts[:3]
    nseq = (len(val_tokens) - 1) // seq_len
    if max_tokens > 0:
        nseq = min(nseq, max_tokens // seq_len)
    if nseq <= 0:
        raise ValueError(f"validation stream of {len(val_tokens)} tokens is too short for seq_len {seq_len}")
    loss_sum, nbytes = 0.0, 0
    model.eval()
    with torch.no_grad():
        for s in range(0, nseq, batch_seqs):
            n = min(batch_seqs, nseq - s)
            w = val_tokens[s * seq_len: (s + n) * seq_len + 1].astype(np.int64)
            x = torch.from_numpy(w[:-1].reshape(n, seq_len))
            y = torch.from_numpy(w[1:].reshape(n, seq_len))
            logits = model.logits(x)
            losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), reduction="none")
            loss_sum += float(losses.double().sum())
            prev, tgt = w[:-1], w[1:]
            nbytes += int(base[tgt].sum()) + int((space[tgt] & ~boundary[prev]).sum())
    tokens = nseq * seq_len
    val_loss = loss_sum / tokens
    return {"val_loss": val_loss, "val_bpb": val_loss / math.log(2.0) * tokens / nbytes,
            "tokens": tokens, "bytes": nbytes}


# ----------------------------------------------------------------------------- calibration
def collect_hessians(model, batches):
    """H = sum of x^T x (float64) at every linear weight's input site, named by
    golfpack.hessian_site. c_q / c_k / c_v read the same input (one site); the
    tied output head reads rms_norm(final residual), which is no nn.Module
    call, so it is taken from the last block's output."""
    hessians, handles, seen = {}, [], set()

    def add(site, x):
        x = x.detach().reshape(-1, x.shape[-1]).double()
        h = x.T @ x
        hessians[site] = hessians[site] + h if site in hessians else h

    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            site = golfpack.hessian_site(name + ".weight")
            if site and site not in seen:
                seen.add(site)
                handles.append(mod.register_forward_hook(lambda m, i, o, site=site: add(site, i[0])))
    if getattr(model, "lm_head", None) is None:
        handles.append(model.blocks[-1].register_forward_hook(lambda m, i, o: add("head_in", ref.rms_norm(o))))
    tokens, counts = 0, None
    model.eval()
    with torch.no_grad():
        for x in batches:
            model.logits(x)
            tokens += x.numel()
            c = torch.bincount(x.reshape(-1).cpu(), minlength=model.tok_emb.num_embeddings).double()
            counts = c if counts is None else counts + c
    for h in handles:
        h.remove()
    return hessians, tokens, counts


# ----------------------------------------------------------------------------- export / reload
def export_gpk(model, calib_batches, path, budget, recipe="rd", code_bytes=None):
    """Replaces quantize_state_dict_int8 + torch.save + zlib.compress."""
    hessians, tokens, counts = collect_hessians(model, calib_batches)
    calib = golfpack.calibrate(hessians, tokens, token_counts=counts)  # counts: the embedding's rows weigh by frequency
    state = {k: v.detach() for k, v in model.state_dict().items()}
    blob, report = golfpack.pack(state, calib, budget=budget, recipe=recipe, code_bytes=code_bytes)
    Path(path).write_bytes(blob)
    return report


def reload_gpk(model, path):
    """Replaces torch.load(zlib.decompress(...)) + dequantize_state_dict_int8."""
    state = golfpack_decode.decode(str(path))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)


def submission_code_bytes():
    """The code a submission using this drop-in ships and PG counts."""
    return sum(os.path.getsize(p) for p in (__file__, DECODER_PATH, MODEL_PATH))


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="dir with tokenizer.model and fineweb_{train,val}_*.bin")
    ap.add_argument("--out", required=True, help="output dir")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--budget", type=int, default=16_000_000, help="counted bytes (file + code) for recipe rd")
    ap.add_argument("--recipe", default="rd",
                    help="rd (grids + a step per row, fast), rd:grid,rowalloc,tcq (trellis grids: the best "
                         "quick choice at the 17M PG shape), rd:all (every path), rd:protect (every path but "
                         "the trellis: best on models of a few M params), a named recipe "
                         "(pg-int8-zlib, gptq-int6-brotli, record-lqer:int5, ...) or rules:KEY=SPEC,...")
    ap.add_argument("--code-bytes", type=int, default=None,
                    help="code bytes counted with the file (default: this script + golfpack_decode.py + reference_gpt.py)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--kv-heads", type=int, default=1)
    ap.add_argument("--mlp-mult", type=int, default=2)
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--batch-seqs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--calib-tokens", type=int, default=8192, help="train tokens the Hessians sum over")
    ap.add_argument("--val-tokens", type=int, default=0, help="score only the first N val targets (0 = all)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1337)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    data = Path(a.data)
    train = load_tokens(str(data / "fineweb_train_*.bin"))
    val = load_tokens(str(data / "fineweb_val_*.bin"))
    luts = build_byte_luts(data / "tokenizer.model", 0)
    vocab = luts[3]
    config = {"vocab_size": vocab, "num_layers": a.layers, "model_dim": a.dim, "num_heads": a.heads,
              "num_kv_heads": a.kv_heads, "mlp_mult": a.mlp_mult, "tie_embeddings": not a.untied}
    model = ref.GPT(config)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model: {nparams} params, config {config}; train {len(train)} tokens, val {len(val)}", flush=True)

    # --- training (stand-in for train_gpt.py's loop)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.0)
    span = a.batch_seqs * a.seq_len + 1
    pos, t0 = 0, time.time()
    model.train()
    for step in range(1, a.steps + 1):
        if pos + span > len(train):
            pos = 0
        w = torch.from_numpy(train[pos:pos + span].astype(np.int64))
        pos += span - 1
        x, y = w[:-1].view(a.batch_seqs, a.seq_len), w[1:].view(a.batch_seqs, a.seq_len)
        lr_scale = min(1.0, (a.steps - step + 1) / max(1, a.steps // 4))  # linear warmdown over the last quarter
        for group in opt.param_groups:
            group["lr"] = a.lr * lr_scale
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step == 1 or step % max(1, a.steps // 5) == 0 or step == a.steps:
            print(f"step {step}/{a.steps} train_loss {loss.item():.4f} ({time.time() - t0:.1f}s)", flush=True)

    pre = eval_val(model, val, luts, a.seq_len, a.batch_seqs, a.val_tokens)
    print(f"pre-export  val_loss {pre['val_loss']:.6f} val_bpb {pre['val_bpb']:.6f}", flush=True)
    ref.save_safetensors(str(out / "model.safetensors"), {k: v.detach() for k, v in model.state_dict().items()})

    # --- export: golfpack instead of quantize_state_dict_int8 + zlib
    calib_batches = []
    need = a.calib_tokens
    cpos = pos
    while need > 0:
        n = min(a.batch_seqs, max(1, need // a.seq_len))
        if cpos + n * a.seq_len > len(train):
            cpos = 0
        calib_batches.append(torch.from_numpy(train[cpos:cpos + n * a.seq_len].astype(np.int64)).view(n, a.seq_len))
        cpos += n * a.seq_len
        need -= n * a.seq_len
    code_bytes = submission_code_bytes() if a.code_bytes is None else a.code_bytes
    gpk_path = out / "final_model.gpk"
    t1 = time.time()
    report = export_gpk(model, calib_batches, gpk_path, a.budget, a.recipe, code_bytes)
    print(f"packed {report['recipe']}: {report['file_bytes']} bytes + {report['code_bytes']} code = "
          f"{report['counted_bytes']} counted (budget {a.budget}), {report['bits_per_param']:.3f} bits/param "
          f"({time.time() - t1:.1f}s)", flush=True)
    if report.get("underfilled"):
        print("note: rd stopped under the budget: every tensor is at its finest candidate", flush=True)

    # --- reload through the standalone decoder and score the round trip
    reload_gpk(model, gpk_path)
    post = eval_val(model, val, luts, a.seq_len, a.batch_seqs, a.val_tokens)
    print(f"post-export val_loss {post['val_loss']:.6f} val_bpb {post['val_bpb']:.6f} "
          f"(gap {post['val_bpb'] - pre['val_bpb']:+.6f})", flush=True)
    report.pop("rd", None)  # the byte-ROI report is large; the summary stays
    result = {"config": config, "params": nparams, "steps": a.steps, "seq_len": a.seq_len,
              "val_tokens": a.val_tokens, "pre": pre, "post": post, "budget": a.budget, "pack": report,
              "artifact": str(gpk_path)}
    (out / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
