#!/usr/bin/env bash
# Bits back (pack --bits-back) against plain rd at equal counted bytes: for
# each budget and recipe, packs with and without the MLP unit orders carrying
# their fc scale bytes, scores both after the round trip, and writes one row
# each (counted bytes, MLPs carried, bytes carried, predicted loss, post
# val_bpb, gap to the unpacked model).
#   bench/bits_back.sh MODEL.safetensors CALIB.safetensors DATA_DIR LABEL [SEQ_LEN] [BUDGET ...]
# Writes bench/out/bits_back_<label>.tsv. Defaults: SEQ_LEN 256, the budgets of
# 2.5 and 3.0 bits/param counted. Recipes: RECIPES (default "rd:protect
# rd:all"), all with --hessian-shrink 0.1. EVAL_TOKENS=N scores only the first
# N val tokens (default: the whole split).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
model="$1"; calib="$2"; data="$3"; label="$4"; seq="${5:-256}"
shift $(( $# < 5 ? $# : 5 ))
build="${GOLFPACK_BUILD_DIR:-$root/build}"; gp="$build/src/cli/golfpack"
out="$root/bench/out/bits_back_$label"; mkdir -p "$out"
tsv="$root/bench/out/bits_back_$label.tsv"
val() { "$gp" -q eval "$1" --data "$data" --seq-len "$seq" --max-tokens "${EVAL_TOKENS:-0}" --json | sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p'; }
pre=$(val "$model")
budgets=("$@")
if [ ${#budgets[@]} -eq 0 ]; then
  params=$("$gp" -q pack "$model" -r pg-int8-zlib -o "$out/pg.gpk" | sed -n 's/^params *\([0-9]*\).*/\1/p')
  for bpp in 2.5 3.0; do budgets+=("$(awk -v n="$params" -v x="$bpp" 'BEGIN { printf "%d", n*x/8 }')"); done
fi
printf "budget\trecipe\tbits_back\tcounted\tmlps_carried\tbytes_carried\tpredicted_loss\tpost_val_bpb\tgap\n" >"$tsv"
for budget in "${budgets[@]}"; do
  for recipe in ${RECIPES:-rd:protect rd:all}; do
    for bb in off on; do
      name="${budget}_${recipe//:/_}_$bb"
      flag=(); [ "$bb" = off ] || flag=(--bits-back)
      "$gp" pack "$model" -r "$recipe" --hessian-shrink 0.1 --calib "$calib" --budget "$budget" "${flag[@]}" \
        -o "$out/$name.gpk" >"$out/$name.txt" 2>/dev/null
      counted=$(sed -n 's/^counted *\([0-9]*\).*/\1/p' "$out/$name.txt")
      pl=$(sed -n 's/^predicted loss increase \([0-9.e+-]*\).*/\1/p' "$out/$name.txt")
      carried=$(sed -n 's/^bits-back \([0-9]*\) bytes.*/\1/p' "$out/$name.txt"); carried=${carried:-0}
      mlps=$(sed -n 's/^bits-back .* unit order of \([0-9]*\) of \([0-9]*\) MLPs.*/\1\/\2/p' "$out/$name.txt")
      post=$(val "$out/$name.gpk")
      awk -v b="$budget" -v r="$recipe" -v o="$bb" -v c="$counted" -v m="$mlps" -v k="$carried" -v pl="$pl" -v p="$post" \
        -v pre="$pre" 'BEGIN { printf "%d\t%s\t%s\t%d\t%s\t%d\t%s\t%.8f\t%.8f\n", b, r, o, c, m, k, pl, p, p - pre }' >>"$tsv"
      echo "bits_back: $budget $recipe $bb done" >&2
    done
  done
done
echo "pre val_bpb $pre" >&2
column -t -s $'\t' "$tsv"
