#!/usr/bin/env bash
# RD curve: bytes vs post-roundtrip val_bpb for pg-int8-zlib, gptq-int6-brotli
# and rd at several budgets (~2 to ~8 bits/param, plus each baseline's exact
# counted bytes), on one model. Writes bench/out/rd_<label>.json and .svg and
# checks the targets: rd's gap at gptq-int6-brotli's bytes is at most half of
# that recipe's gap, and rd is below both baselines at their bytes.
#   bench/rd_vs_baselines.sh MODEL.safetensors DATA_DIR LABEL [SEQ_LEN] [EVAL_TOKENS]
#   (CALIB_TOKENS, SENS_TOKENS: calibration and sensitivity batch sizes)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
model="$1"; data="$2"; label="$3"; seq="${4:-256}"; evtok="${5:-65536}"
build="${GOLFPACK_BUILD_DIR:-$root/build}"; gp="$build/src/cli/golfpack"
out="$root/bench/out"; mkdir -p "$out"
calib="$out/$label.calib.safetensors"
json="$out/rd_$label.json"; : >"$json"
if [ ! -f "$calib" ]; then
  "$gp" -q calibrate "$model" --data "$data" --tokens "${CALIB_TOKENS:-65536}" --seq-len "$seq" \
    --sensitivity-tokens "${SENS_TOKENS:-16384}" -o "$calib" \
    | tee "$out/$label.calib.txt"
fi
val() { "$gp" -q eval "$1" --data "$data" --seq-len "$seq" --max-tokens "$evtok" --json | sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p'; }
field() { sed -n "s/^$2 *\([0-9.]*\).*/\1/p" "$1"; }
pre=$(val "$model")
params=$("$gp" -q pack "$model" -r pg-int8-zlib -o "$out/$label.pg.gpk" | tee "$out/$label.pg.txt" | sed -n 's/^params *\([0-9]*\).*/\1/p')
emit() {  # recipe budget counted post seconds
  awk -v r="$1" -v b="$2" -v c="$3" -v p="$4" -v s="$5" -v pre="$pre" -v n="$params" \
    'BEGIN { printf "{\"recipe\": \"%s\", \"budget\": %s, \"counted_bytes\": %d, \"bits_per_param\": %.4f, \"pre_val_bpb\": %.6f, \"post_val_bpb\": %.6f, \"gap\": %.6f, \"pack_seconds\": %s}\n", r, b, c, 8*c/n, pre, p, p-pre, s }' >>"$json"
}
for r in pg-int8-zlib gptq-int6-brotli; do
  "$gp" -q pack "$model" -r "$r" --calib "$calib" -o "$out/$label.$r.gpk" >"$out/$label.$r.txt"
  emit "$r" 0 "$(field "$out/$label.$r.txt" counted)" "$(val "$out/$label.$r.gpk")" "$(field "$out/$label.$r.txt" time)"
done
pg_bytes=$(field "$out/$label.pg-int8-zlib.txt" counted); gq_bytes=$(field "$out/$label.gptq-int6-brotli.txt" counted)
budgets="$gq_bytes $pg_bytes"
for bpp in 2 3 4 5 6 8; do budgets="$budgets $(awk -v n="$params" -v b="$bpp" 'BEGIN { printf "%d", n*b/8 + 140000 }')"; done
for b in $budgets; do
  if "$gp" -q pack "$model" -r rd:all --calib "$calib" --budget "$b" -o "$out/$label.rd.$b.gpk" \
       --report "$out/$label.rd.$b.roi.json" >"$out/$label.rd.$b.txt" 2>"$out/$label.rd.$b.err"; then
    emit rd "$b" "$(field "$out/$label.rd.$b.txt" counted)" "$(val "$out/$label.rd.$b.gpk")" "$(field "$out/$label.rd.$b.txt" time)"
  else
    echo "rd at budget $b: $(cat "$out/$label.rd.$b.err")" >&2
  fi
done
/usr/bin/python3 "$root/bench/plot_rd.py" "$json" "$out/rd_$label.svg" "$label"
