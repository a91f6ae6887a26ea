#!/usr/bin/env bash
# Row Fisher weights in the distortion proxy, on and off, at equal bytes.
# Calibrates the model twice on the same tokens: plainly, and with
# `--row-fisher FLOOR` (each block matrix's output rows weighted by the sum of
# (dL/dy)^2 over the calibration tokens, the sensitivities fitted with those
# weights). Then packs, per budget, rd with grids only, `rd:protect` and
# `rd:all` (all with --hessian-shrink 0.1) with each calibration, and scores
# every artifact after the round trip.
#   bench/row_fisher.sh MODEL.safetensors DATA_DIR LABEL [SEQ_LEN] [FLOOR] [BITS_PER_PARAM ...]
# Writes bench/out/row_fisher_<label>.tsv (one row per budget, recipe and
# calibration). Defaults: SEQ_LEN 256, FLOOR 0.1, 2.5 and 3.0 bits/param.
# EVAL_TOKENS=N scores only the first N val tokens (default: the whole split).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
model="$1"; data="$2"; label="$3"; seq="${4:-256}"; floor="${5:-0.1}"
shift $(( $# < 5 ? $# : 5 ))
rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(2.5 3.0)
build="${GOLFPACK_BUILD_DIR:-$root/build}"; gp="$build/src/cli/golfpack"
out="$root/bench/out/row_fisher_$label"; mkdir -p "$out"
tsv="$root/bench/out/row_fisher_$label.tsv"
val() { "$gp" -q eval "$1" --data "$data" --seq-len "$seq" --max-tokens "${EVAL_TOKENS:-0}" --json | sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p'; }
cal=(--data "$data" --tokens 65536 --seq-len "$seq")
"$gp" -q calibrate "$model" "${cal[@]}" -o "$out/plain.calib.safetensors"
"$gp" -q calibrate "$model" "${cal[@]}" --row-fisher "$floor" -o "$out/fisher.calib.safetensors"
pre=$(val "$model")
params=$("$gp" -q pack "$model" -r pg-int8-zlib -o "$out/pg.gpk" | sed -n 's/^params *\([0-9]*\).*/\1/p')
printf "bits_per_param\tbudget\trecipe\trow_fisher_floor\tcounted\tpredicted_loss\tpost_val_bpb\tgap\n" >"$tsv"
for bpp in "${rates[@]}"; do
  budget=$(awk -v n="$params" -v x="$bpp" 'BEGIN { printf "%d", n*x/8 }')
  for recipe in grid rd:protect rd:all; do
    for fl in -1 "$floor"; do
      if [ "$recipe" = grid ]; then r=(-r rd --paths grid); else r=(-r "$recipe"); fi
      c="$out/plain.calib.safetensors"; [ "$fl" = -1 ] || c="$out/fisher.calib.safetensors"
      name="${bpp}_${recipe//:/_}_${fl}"
      "$gp" -q pack "$model" "${r[@]}" --hessian-shrink 0.1 --calib "$c" --budget "$budget" \
        --row-fisher-floor "$fl" -o "$out/$name.gpk" >"$out/$name.txt"
      counted=$(sed -n 's/^counted *\([0-9]*\).*/\1/p' "$out/$name.txt")
      pl=$(sed -n 's/^predicted loss increase \([0-9.e+-]*\).*/\1/p' "$out/$name.txt")
      post=$(val "$out/$name.gpk")
      awk -v b="$bpp" -v bu="$budget" -v r="$recipe" -v f="$fl" -v c="$counted" -v pl="$pl" -v p="$post" -v pre="$pre" \
        'BEGIN { printf "%s\t%d\t%s\t%s\t%d\t%s\t%.6f\t%.6f\n", b, bu, r, (f < 0 ? "off" : f), c, pl, p, p - pre }' >>"$tsv"
      echo "row_fisher: $bpp $recipe floor $fl done" >&2
    done
  done
done
echo "pre val_bpb $pre" >&2
column -t -s $'\t' "$tsv"
