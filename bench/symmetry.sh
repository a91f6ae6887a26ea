#!/usr/bin/env bash
# Permutation symmetries (issue 9, item 4): how many bits the exact
# reorderings of a model carry (MLP units, heads within KV groups, KV groups:
# log2 n! each, what a bits-back coder could recover), and what storing the
# canonical order (`pack --canonical`) changes in today's artifacts:
#   gptq-int6-brotli  brotli sees the rows in order (LZ matches may move)
#   rd                per-row grids and a per-tensor entropy model: order-free,
#                     so the same bytes and predicted loss are expected
#
#   bench/symmetry.sh MODEL CALIB BUDGET [LABEL]
#
# Prints one TSV block (and writes /tmp/golfpack-symmetry-LABEL.tsv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gp="${GOLFPACK_BUILD_DIR:-$root/build}/src/cli/golfpack"
[ $# -ge 3 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
model="$1" calib="$2" budget="$3" label="${4:-$(basename "$model" .safetensors)}"
out="/tmp/golfpack-symmetry-$label"; mkdir -p "$out"
tsv="$out.tsv"
field() { sed -n "s/^$2 *\([0-9.]*\).*/\1/p" "$1"; }
printf "model\trecipe\torder\tcounted_bytes\tpredicted_loss\tordering_bits\tordering_bytes\tordering_pct_of_counted\n" >"$tsv"
for r in gptq-int6-brotli rd; do
  for order in given canonical; do
    args=(); [ "$order" = canonical ] && args=(--canonical)
    [ "$r" = rd ] && args+=(--budget "$budget")
    "$gp" pack "$model" -r "$r" --calib "$calib" -o "$out/$r.$order.gpk" "${args[@]}" >"$out/$r.$order.txt" 2>/dev/null
    counted=$(field "$out/$r.$order.txt" counted)
    pl=$(sed -n 's/^predicted loss increase \([0-9.e+-]*\).*/\1/p' "$out/$r.$order.txt")
    bits=$(sed -n 's/.*: \([0-9]*\) bits = .*/\1/p' "$out/$r.$order.txt")
    awk -v m="$label" -v r="$r" -v o="$order" -v c="$counted" -v p="${pl:--}" -v b="${bits:-0}" 'BEGIN {
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.3f\n", m, r, o, c, p, (b ? b : "-"), b / 8, 100 * b / 8 / c }' >>"$tsv"
  done
done
cat "$tsv"
