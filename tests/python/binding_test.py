#!/usr/bin/python3
"""The golfpack Python module (pybind11) against the golfpack CLI and the
standalone decoder python/golfpack_decode.py.

Usage: PYTHONPATH=<build>/python binding_test.py <golfpack binary>

Checks, on a small random Parameter Golf state dict (reference_gpt.GPT names):
  * hessian_site names the sites as io::HessianSite does;
  * pack(recipe="pg-int8-zlib") gives byte for byte the artifact
    `golfpack pack -r pg-int8-zlib` writes for the same weights, and unpack()
    equals python/golfpack_decode.py's decode of those bytes bit for bit;
  * rd fills the budget: budget >= counted_bytes >= 0.999 * budget, and with
    the calibration saved by Calibration.save and reloaded it gives the same
    bytes as `golfpack pack -r rd --calib` of that file;
  * inspect() agrees with the bytes (format version, sizes, encodings);
  * original dtypes (bf16, f16) come back; torch and numpy inputs agree;
  * a corrupt byte, a truncated file, an unknown recipe and a GPTQ recipe
    without calibration raise ValueError.
Exit 0 = pass, 1 = fail, 77 = skipped (no numpy/torch).
"""
import atexit
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
try:
    import numpy as np
    import torch
except ImportError:
    print("SKIP: this python3 has no numpy/torch (apt install python3-numpy python3-torch)")
    sys.exit(77)

import golfpack  # from PYTHONPATH=<build>/python

ROOT = Path(__file__).resolve().parents[2]


def load_file_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gd = load_file_module("golfpack_decode", ROOT / "python/golfpack_decode.py")
ref = load_file_module("reference_gpt", ROOT / "tests/golden/reference_gpt.py")

GP = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "build/src/cli/golfpack")
WORK = Path(tempfile.mkdtemp(prefix="gpk-bindtest-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
FAILS, PASSES = [], [0]


def check(cond, what):
    if cond:
        PASSES[0] += 1
        print("ok  ", what)
    else:
        FAILS.append(what)
        print("FAIL", what)


def raises(fn, exc, what, contains=None):
    try:
        fn()
    except exc as e:
        check(contains is None or contains in str(e), f"{what}: {exc.__name__} ({str(e)[:120]})")
        return
    except Exception as e:  # noqa: BLE001
        check(False, f"{what}: raised {type(e).__name__} {e}")
        return
    check(False, f"{what}: no exception")


def cli(*args):
    r = subprocess.run([GP, "-q", *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"golfpack {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout


def bit_equal(a, b):
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


# --------------------------------------------------------------- a small PG model
CONFIG = {"vocab_size": 512, "num_layers": 2, "model_dim": 160, "num_heads": 4, "num_kv_heads": 2,
          "mlp_mult": 3, "tie_embeddings": True}
torch.manual_seed(7)
model = ref.GPT(CONFIG)
with torch.no_grad():
    for name, p in model.named_parameters():
        if p.dim() == 2 and "resid_mix" not in name and "skip" not in name:
            p.copy_(torch.randn_like(p) * (0.02 if "tok_emb" in name else p.shape[1] ** -0.5))
        else:
            p.add_(0.05 * torch.randn_like(p))
state = {k: v.detach().clone() for k, v in sorted(model.state_dict().items())}

# ---------------------------------------------------------------- hessian_site
check(golfpack.hessian_site("blocks.0.attn.c_q.weight") == "blocks.0.attn_in", "hessian_site c_q")
check(golfpack.hessian_site("blocks.0.attn.c_v.weight") == "blocks.0.attn_in", "hessian_site c_v shares c_q's site")
check(golfpack.hessian_site("blocks.1.mlp.proj.weight") != golfpack.hessian_site("blocks.1.mlp.fc.weight"),
      "hessian_site mlp.fc and mlp.proj differ")
check(golfpack.hessian_site("tok_emb.weight") == "head_in", "hessian_site tied embedding reads head_in")
check(golfpack.hessian_site("blocks.0.attn_scale") == "", "hessian_site control tensor is empty")

# ---------------------------------------------------------------- pg-int8-zlib vs the CLI
st_path = WORK / "m.safetensors"
ref.save_safetensors(str(st_path), state)
cli("pack", st_path, "-r", "pg-int8-zlib", "-o", WORK / "cli.gpk")
cli_bytes = (WORK / "cli.gpk").read_bytes()
data, report = golfpack.pack(state, None, budget=0, recipe="pg-int8-zlib")
check(isinstance(data, bytes) and data == cli_bytes,
      f"pg-int8-zlib: binding bytes == `golfpack pack` bytes ({len(data)} vs {len(cli_bytes)})")
check(report["file_bytes"] == len(data), "report file_bytes == len(bytes)")
check(report["counted_bytes"] == len(data) + golfpack.decoder_code_bytes() == report["file_bytes"] + report["code_bytes"],
      "report counted_bytes == file + decoder code bytes")
nparams = sum(v.numel() for v in state.values())
check(report["params"] == nparams, f"report params == {nparams}")
check(abs(report["bits_per_param"] - 8.0 * len(data) / nparams) < 1e-12, "report bits_per_param")
check([t["name"] for t in report["tensors"]] == list(state), "report lists every tensor in order")
encs = {t["name"]: t["encoding_name"] for t in report["tensors"]}
check(encs["blocks.0.mlp.fc.weight"] == "pg_int8_row", "pg-int8-zlib encodes a big matrix pg_int8_row")

numpy_state = {k: v.numpy() for k, v in state.items()}
data_np, _ = golfpack.pack(numpy_state, None, budget=0, recipe="pg-int8-zlib")
check(data_np == data, "numpy state dict packs to the same bytes as torch")

out = golfpack.unpack(data)
dec = gd.decode(data)
check(list(out) == list(dec) == list(state), "unpack / golfpack_decode names in order")
check(all(isinstance(t, torch.Tensor) and t.dtype == torch.float32 for t in out.values()), "unpack gives float32 torch tensors")
check(all(bit_equal(out[k].numpy(), dec[k]) for k in dec), "unpack == golfpack_decode.decode bit for bit (pg-int8-zlib)")
cli("unpack", WORK / "cli.gpk", "-o", WORK / "cli_unpacked.safetensors", "--f32")
cli_unpacked = ref.load_safetensors(str(WORK / "cli_unpacked.safetensors"))
check(all(bit_equal(out[k].numpy(), cli_unpacked[k].numpy()) for k in out), "unpack == `golfpack unpack --f32` bit for bit")
# PG's int8 export: per-row scale max(clip/127, 1/127) (train_gpt.py clamps the
# scale at 1/127, stored as f16), so the error is about half a step; small tensors are f16/f32.
worst = 0.0
for k, w in state.items():
    e = (out[k] - w).abs()
    if encs[k] == "pg_int8_row":
        step = torch.clamp(w.abs().amax(dim=1, keepdim=True) / 127.0, min=1.0 / 127.0)
        # half a step, plus up to 127 steps times the f16 rounding of the stored scale
        worst = max(worst, float((e / (step * (0.5 + 127 * 2.0 ** -11) * 1.001)).max()))
    else:
        worst = max(worst, float((e / (w.abs() * 2.0 ** -11 + 2.0 ** -25)).max()))  # f16: half an ulp
check(worst <= 1.0, f"pg-int8-zlib round trip within half a step (worst error / bound {worst:.3f})")

info = golfpack.inspect(data)
check(info["file_bytes"] == len(data) and info["counted_bytes"] == len(data) + golfpack.decoder_code_bytes(),
      "inspect file/counted bytes")
check(info["format_version"] in (1, 2), f"inspect format_version {info['format_version']}")
check([t["name"] for t in info["tensors"]] == list(state), "inspect names")
check(all(tuple(t["shape"]) == tuple(state[t["name"]].shape) for t in info["tensors"]), "inspect shapes")
check(all(t["encoding"] == encs[t["name"]] for t in info["tensors"]), "inspect encodings == pack report")
check(sum(info["parts"].values()) + sum(t["bytes"] for t in info["tensors"]) == len(data),
      "inspect byte account adds up to the file size")
check(info["metadata"].get("golfpack.recipe") == "pg-int8-zlib", "inspect metadata names the recipe")
check(info["tensors"][0]["payload_bytes"] == report["tensors"][0]["payload_bytes"], "inspect payload bytes == pack report")

# ---------------------------------------------------------------- dtypes come back
mixed = dict(state)
mixed["tok_emb.weight"] = state["tok_emb.weight"].to(torch.bfloat16)
mixed["blocks.0.attn_scale"] = state["blocks.0.attn_scale"].to(torch.float16)
mixed_out = golfpack.unpack(golfpack.pack(mixed, None, 0, recipe="pg-int8-zlib")[0])
check(mixed_out["tok_emb.weight"].dtype == torch.bfloat16 and mixed_out["blocks.0.attn_scale"].dtype == torch.float16
      and mixed_out["blocks.0.mlp_scale"].dtype == torch.float32, "unpack restores bf16 / f16 / f32 dtypes")
check(torch.equal(mixed_out["blocks.0.attn_scale"], mixed["blocks.0.attn_scale"]),
      "f16 control tensor round-trips exactly")
np_out = golfpack.unpack(data, as_numpy=True)
check(all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in np_out.values()), "unpack(as_numpy=True)")

# ---------------------------------------------------------------- calibration (hooks) and rd
hessians, tokens, counts = {}, 0, 0


def hook_for(site):
    def hook(mod, inputs, output):
        x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).double()
        hessians[site] = hessians.get(site, 0) + x.T @ x
    return hook


handles = []
for mname, mod in model.named_modules():
    if isinstance(mod, torch.nn.Linear):
        site = golfpack.hessian_site(mname + ".weight")
        if site and site not in {golfpack.hessian_site(n + ".weight") for n, _ in handles}:
            handles.append((mname, mod.register_forward_hook(hook_for(site))))
# The tied head reads rms_norm(last block's output): F.linear, not a module.
handles.append(("head", model.blocks[-1].register_forward_hook(
    lambda mod, i, o: hessians.__setitem__("head_in", hessians.get("head_in", 0) + (
        lambda x: x.T @ x)(ref.rms_norm(o.detach()).reshape(-1, o.shape[-1]).double())))))
g = torch.Generator().manual_seed(3)
with torch.no_grad():
    for _ in range(4):
        ids = torch.randint(0, CONFIG["vocab_size"], (4, 64), generator=g)
        model.logits(ids)
        tokens += ids.numel()
        counts = counts + torch.bincount(ids.reshape(-1), minlength=CONFIG["vocab_size"]).double()
for _, h in handles:
    h.remove()
expected_sites = {golfpack.hessian_site(k) for k in state} - {""}
check(set(hessians) == expected_sites, f"hooks cover every site ({len(hessians)})")

calib = golfpack.calibrate(hessians, tokens, token_counts=counts)
check(calib.token_counts == counts.tolist() and sum(calib.token_counts) == tokens, "calibrate keeps the token counts")
check(calib.tokens == tokens and len(calib) == len(expected_sites), f"calibrate: {calib!r}")
h_back = calib.hessian("blocks.0.mlp.fc.weight")
check(h_back is not None and np.array_equal(h_back, hessians["blocks.0.mlp_in"].numpy()), "Calibration.hessian(weight)")
check(calib.hessian("blocks.0.attn_scale") is None, "Calibration.hessian of a control tensor is None")
raises(lambda: golfpack.calibrate({"blocks.0.attn_in": np.zeros((3, 4))}, 10), ValueError, "non-square Hessian")

int8_counted = report["counted_bytes"]
budget = int(int8_counted * 0.45)
rd_data, rd_report = golfpack.pack(state, calib, budget=budget, recipe="rd")
check(rd_report["counted_bytes"] <= budget and rd_report["counted_bytes"] >= 0.999 * budget,
      f"rd fills the budget: {rd_report['counted_bytes']} of {budget}")
check(rd_report["counted_bytes"] == len(rd_data) + golfpack.decoder_code_bytes(), "rd counted == file + code bytes")
check(isinstance(rd_report.get("rd"), dict) and rd_report["rd"].get("counted_bytes") == rd_report["counted_bytes"]
      and len(rd_report["rd"].get("tensors", [])) > 0, "rd report JSON parsed")
check(rd_report["underfilled"] is False, "rd not underfilled")
rd_out = golfpack.unpack(rd_data)
rd_dec = gd.decode(rd_data)
check(all(bit_equal(rd_out[k].numpy(), rd_dec[k]) for k in rd_dec), "rd: unpack == golfpack_decode bit for bit")

# bits_back: the MLP unit orders carry fc scale bytes; same budget rule, decodes alike
bb_data, bb_report = golfpack.pack(state, calib, budget=budget, recipe="rd", bits_back=True)
check(bb_report["counted_bytes"] <= budget and bb_report.get("bits_back_bytes", 0) > 0,
      f"rd bits_back: {bb_report.get('bits_back_bytes')} bytes carried, counted {bb_report['counted_bytes']} of {budget}")
bb_dec = gd.decode(bb_data)
check(all(bit_equal(golfpack.unpack(bb_data)[k].numpy(), bb_dec[k]) for k in bb_dec),
      "rd bits_back: unpack == golfpack_decode bit for bit")
raises(lambda: golfpack.pack(state, None, 0, recipe="pg-int8-zlib", bits_back=True), ValueError, "bits_back with a rule recipe")

# code_bytes moves the file size by the same amount
rd_data2, rd_report2 = golfpack.pack(state, calib, budget=budget, recipe="rd", code_bytes=20000)
check(rd_report2["code_bytes"] == 20000 and budget * 0.999 <= rd_report2["counted_bytes"] <= budget
      and rd_report2["file_bytes"] == len(rd_data2), f"rd with code_bytes=20000: file {len(rd_data2)}")

# save -> CLI: the same file packs to the same bytes through the CLI and the binding
calib_path = WORK / "calib.safetensors"
calib.save(str(calib_path))
loaded = golfpack.load_calibration(str(calib_path))
check(loaded.tokens == tokens and sorted(loaded.sites) == sorted(calib.sites), f"load_calibration: {loaded!r}")
check(loaded.token_counts == calib.token_counts, "load_calibration: token counts")
calib_path2 = WORK / "calib2.safetensors"
loaded.save(str(calib_path2))
check(calib_path2.read_bytes() == calib_path.read_bytes(), "save(load_calibration(f)) == f byte for byte")
cli("pack", st_path, "-r", "rd", "--calib", calib_path, "--budget", budget, "-o", WORK / "rd_cli.gpk")
rd_loaded, _ = golfpack.pack(state, loaded, budget=budget, recipe="rd")
check(rd_loaded == (WORK / "rd_cli.gpk").read_bytes(), "rd: binding (loaded calibration) bytes == `golfpack pack -r rd`")
# rd:PATHS restricts the paths: the binding and the CLI (-r and --paths alike) agree byte for byte
rd_some, rd_some_report = golfpack.pack(state, loaded, budget=budget, recipe="rd:grid,rowalloc")
check([p["path"] for p in rd_some_report["rd"]["paths"]] == ["grid", "rowalloc"],
      f"rd:grid,rowalloc prices only those paths: {[p['path'] for p in rd_some_report['rd']['paths']]}")
cli("pack", st_path, "-r", "rd:grid,rowalloc", "--calib", calib_path, "--budget", budget, "-o", WORK / "rd_some.gpk")
cli("pack", st_path, "-r", "rd", "--paths", "grid,rowalloc", "--calib", calib_path, "--budget", budget,
    "-o", WORK / "rd_some2.gpk")
check(rd_some == (WORK / "rd_some.gpk").read_bytes() == (WORK / "rd_some2.gpk").read_bytes(),
      "rd:grid,rowalloc: binding bytes == `-r rd:grid,rowalloc` == `-r rd --paths grid,rowalloc`")
cli("pack", st_path, "-r", "gptq-int6-brotli", "--calib", calib_path, "-o", WORK / "gptq_cli.gpk")
gq, _ = golfpack.pack(state, loaded, budget=0, recipe="gptq-int6-brotli")
check(gq == (WORK / "gptq_cli.gpk").read_bytes(), "gptq-int6-brotli: binding bytes == CLI bytes")

# ---------------------------------------------------------------- errors
raises(lambda: golfpack.pack(state, None, 0, recipe="no-such-recipe"), ValueError, "unknown recipe", "no-such-recipe")
raises(lambda: golfpack.pack(state, None, 0, recipe="gptq-int6-brotli"), ValueError, "GPTQ recipe without calibration",
       "calibration")
raises(lambda: golfpack.pack(state, None, budget, recipe="rd"), ValueError, "rd without calibration")
raises(lambda: golfpack.pack(state, None, 1000, recipe="pg-int8-zlib"), ValueError, "named recipe over its budget")
raises(lambda: golfpack.pack(state, calib, 1000, recipe="rd"), ValueError, "rd budget below the smallest artifact")
raises(lambda: golfpack.pack({"tok_emb.weight": torch.zeros(4, 4, dtype=torch.int32)}, None, 0, "pg-int8-zlib"),
       ValueError, "integer tensor")
bad = bytearray(data)
bad[len(bad) // 2] ^= 0x40
raises(lambda: golfpack.unpack(bytes(bad)), ValueError, "corrupt byte: unpack")
raises(lambda: golfpack.inspect(bytes(bad)), ValueError, "corrupt byte: inspect")
raises(lambda: golfpack.unpack(data[:-7]), ValueError, "truncated artifact")
raises(lambda: golfpack.unpack(b"not a gpk file at all"), ValueError, "garbage bytes")
try:
    gd.decode(bytes(bad))
    check(False, "golfpack_decode also rejects the corrupt byte")
except ValueError:
    check(True, "golfpack_decode also rejects the corrupt byte")

print(f"{PASSES[0]} passed, {len(FAILS)} failed")
sys.exit(1 if FAILS else 0)
