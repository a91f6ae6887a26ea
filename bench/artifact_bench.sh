#!/usr/bin/env bash
# Artifact figures (issue 4), printed as tables:
#  1. bytes and val_bpb gap of every recipe on the demo model (run scripts/demo first);
#  2. pack time and decode throughput of every recipe on the 17M-parameter
#     Parameter Golf baseline shape (briefly trained here so weights are not init values).
#   bench/artifact_bench.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
source "$root/scripts/env.sh"
gp="$build/src/cli/golfpack"
demo="${GOLFPACK_DEMO_DIR:-$root/demo-run}"
out="$root/bench/out"; mkdir -p "$out"
recipes=$("$gp" pack --list-recipes | awk '{print $1}')
[ -f "$demo/model.safetensors" ] || { echo "artifact_bench: $demo/model.safetensors missing: run scripts/demo first" >&2; exit 1; }
seq=$(sed -n 's/.*"seq_len":\([0-9]*\).*/\1/p' "$demo/train.jsonl" | head -1); seq=${seq:-256}

echo "== demo model ($demo/model.safetensors), val at seq_len $seq =="
"$gp" -q calibrate "$demo/model.safetensors" --data "$demo/data" --tokens 65536 --seq-len "$seq" --sensitivity-tokens 0 -o "$out/demo.calib.safetensors" >/dev/null
printf "%-18s %12s %12s %10s %12s %12s %10s\n" recipe file_bytes counted bits/par pre_bpb post_bpb gap
for r in $recipes; do
  "$gp" -q pack "$demo/model.safetensors" --calib "$out/demo.calib.safetensors" -r "$r" -o "$out/demo.$r.gpk" >"$out/demo.$r.pack.txt"
  "$gp" -q eval "$out/demo.$r.gpk" --reference "$demo/model.safetensors" --data "$demo/data" --seq-len "$seq" --json >"$out/demo.$r.eval.json"
  file=$(sed -n 's/^file *\([0-9]*\) bytes.*/\1/p' "$out/demo.$r.pack.txt")
  counted=$(sed -n 's/^counted *\([0-9]*\) bytes.*/\1/p' "$out/demo.$r.pack.txt")
  params=$(sed -n 's/^params *\([0-9]*\) in.*/\1/p' "$out/demo.$r.pack.txt")
  j=$(cat "$out/demo.$r.eval.json")
  pre=$(echo "$j" | sed -n 's/.*"pre_val_bpb": \([0-9.]*\).*/\1/p'); post=$(echo "$j" | sed -n 's/.*"post_val_bpb": \([0-9.]*\).*/\1/p')
  awk -v r="$r" -v f="$file" -v c="$counted" -v p="$params" -v a="$pre" -v b="$post" \
    'BEGIN { printf "%-18s %12d %12d %10.3f %12.5f %12.5f %+10.5f\n", r, f, c, 8*f/p, a, b, b-a }'
done

echo; echo "== 17M Parameter Golf baseline shape =="
if [ ! -f "$out/pg17m.safetensors" ]; then
  "$gp" -q train --preset baseline --data "$demo/data" --iterations 2 --batch-tokens 4096 --seq-len 256 --warmup 1 --warmdown 0 \
    -o "$out/pg17m.safetensors" >/dev/null
  "$gp" -q calibrate "$out/pg17m.safetensors" --data "$demo/data" --tokens 16384 --seq-len 1024 --sensitivity-tokens 0 -o "$out/pg17m.calib.safetensors" >/dev/null
fi
printf "%-18s %12s %10s %10s %14s %14s\n" recipe file_bytes bits/par pack_s decode_MB/s ref_MB/s
for r in $recipes; do
  "$gp" -q pack "$out/pg17m.safetensors" --calib "$out/pg17m.calib.safetensors" -r "$r" -o "$out/pg17m.$r.gpk" >"$out/pg17m.$r.pack.txt"
  secs=$(sed -n 's/^time *\([0-9.]*\) s/\1/p' "$out/pg17m.$r.pack.txt")
  read -r fb _ params _ dec ref < <("$build/bench/decode_bench" "$out/pg17m.$r.gpk" 3 | tail -1)
  awk -v r="$r" -v f="$fb" -v p="$params" -v s="$secs" -v d="$dec" -v x="$ref" \
    'BEGIN { printf "%-18s %12d %10.3f %10.2f %14.1f %14.1f\n", r, f, 8*f/p, s, d, x }'
done
