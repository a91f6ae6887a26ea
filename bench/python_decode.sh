#!/usr/bin/env bash
# Decode speed of python/golfpack_decode.py against the C++ decoder on a ~16 MB
# artifact (issue: Python decoder speed). Writes a synthetic Parameter Golf-shaped
# model (11 layers, dim 512, 8 heads / 4 KV heads, MLP 2x, vocab 1024: 20.7M
# params) and a synthetic calibration file, packs it with `rd` over entropy-coded
# grids (ans_grid, rANS order-0, then context-modelled; plain rounding, no GPTQ, so
# packing is quick) to --budget 16,000,000, then times both decoders (best of 2)
# and prints one table.
#   bench/python_decode.sh [build-dir]     env: PY=/usr/bin/python3, FAMILY=ans:s{s}:row (also run with :ctx4),
#                                          BUDGET=16000000, BEFORE=old/golfpack_decode.py (adds its time)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
source "$root/scripts/env.sh"
gp="$build/src/cli/golfpack"
py="${PY:-/usr/bin/python3}"
family='ans:s{s}:row'; [ -n "${FAMILY:-}" ] && family="$FAMILY"
budget="${BUDGET:-16000000}"
out="$root/bench/out/python_decode"; mkdir -p "$out"
export PYTHONDONTWRITEBYTECODE=1

model="$out/pg21m.safetensors"; calib="$out/pg21m.calib.safetensors"
if [ ! -f "$model" ] || [ ! -f "$calib" ]; then
  "$py" - "$model" "$calib" <<'PYEOF'
import json, struct, sys
import numpy as np
rng = np.random.default_rng(0)
layers, d, kv, hidden, vocab = 11, 512, 256, 1024, 1024
def save(path, tensors, meta=None):
    header, blobs, off = ({'__metadata__': meta} if meta else {}), [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, '<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(header).encode(); h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h)
        for b in blobs: f.write(b)
def w(*s, scale=0.02):
    return (rng.standard_normal(s, np.float32) * scale)
m = {'tok_emb.weight': w(vocab, d, scale=0.005), 'skip_weights': np.ones((layers // 2, d), np.float32)}
for i in range(layers):
    p = f'blocks.{i}.'
    m.update({p + 'attn.c_q.weight': w(d, d), p + 'attn.c_k.weight': w(kv, d), p + 'attn.c_v.weight': w(kv, d),
              p + 'attn.proj.weight': w(d, d), p + 'mlp.fc.weight': w(hidden, d), p + 'mlp.proj.weight': w(d, hidden),
              p + 'attn_scale': np.ones(d, np.float32), p + 'mlp_scale': np.ones(d, np.float32),
              p + 'resid_mix': np.stack([np.ones(d), np.zeros(d)]).astype(np.float32),
              p + 'attn.q_gain': np.full(8, 1.5, np.float32)})
save(sys.argv[1], m)
def hess(n):
    x = rng.standard_normal((2 * n, n)).astype(np.float32)
    return x.T @ x
sites = {'head_in': hess(d)}
for i in range(layers):
    for s, n in (('attn_in', d), ('attn.proj_in', d), ('mlp_in', d), ('mlp.proj_in', hidden)):
        sites[f'blocks.{i}.{s}'] = hess(n)
save(sys.argv[2], sites, {'golfpack.calibration': 'hessian-v1', 'golfpack.tokens': '1024', 'golfpack.seq_len': '1024'})
print(f'model: {sum(v.size for v in m.values())} params', file=sys.stderr)
PYEOF
fi

# Seconds of a command, best of 2 (the machine is shared).
secs() { "$py" -c 'import subprocess, sys, time
best = 1e9
for _ in range(2):
    t = time.perf_counter(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); best = min(best, time.perf_counter() - t)
print(f"{best:.3f}")' "$@"; }
decode_py='import sys, importlib.util
spec = importlib.util.spec_from_file_location("gd", sys.argv[1]); gd = importlib.util.module_from_spec(spec); spec.loader.exec_module(gd)
gd.decode(sys.argv[2])'

printf "%-14s %11s %10s %8s %8s %9s %9s %9s" family bytes params bits/par cpp_s cpp_MB/s python_s py_MB/s
[ -n "${BEFORE:-}" ] && printf " %9s %8s" before_s speedup
echo
for fam in "$family" "$family:ctx4"; do
  tag=$(echo "$fam" | sed 's/[{}:]/_/g')
  gpk="$out/pg21m.$tag.gpk"
  if [ ! -f "$gpk" ] || [ "$model" -nt "$gpk" ]; then
    "$gp" -q pack "$model" -r rd --calib "$calib" --budget "$budget" --family "$fam" --paths grid -o "$gpk" >"$gpk.pack.txt"
  fi
  bytes=$(stat -c %s "$gpk")
  params=$(sed -n 's/^params *\([0-9]*\) in.*/\1/p' "$gpk.pack.txt")
  cpp=$(secs "$gp" -q unpack --f32 "$gpk" -o "$out/cpp.safetensors")
  pys=$(secs "$py" -c "$decode_py" "$root/python/golfpack_decode.py" "$gpk")
  label=$(echo "$fam" | sed 's/ans:s{s}:row/ans o0/; s/ans o0:ctx/ans ctx/')
  awk -v f="$label" -v b="$bytes" -v p="$params" -v c="$cpp" -v s="$pys" 'BEGIN {
    printf "%-14s %11d %10d %8.3f %8.2f %9.2f %9.2f %9.2f", f, b, p, 8*b/p, c, b/1e6/c, s, b/1e6/s }'
  if [ -n "${BEFORE:-}" ]; then
    old=$(secs "$py" -c "$decode_py" "$BEFORE" "$gpk")
    awk -v o="$old" -v s="$pys" 'BEGIN { printf " %9.2f %7.2fx", o, o/s }'
  fi
  echo
  rm -f "$out/cpp.safetensors"
done
