#!/usr/bin/env bash
# Selective precision (issue 11) on one trained model: rd with every path
# against rd with scalar grids only (`--paths grid`) at 2.5, 3.0 and 4.0
# bits/param (counted bytes: file + code), and rd against the records' export
# (record-lqer with int6, int5 and int4 matrices) at that recipe's own counted
# bytes. Prints counted bytes, post-round-trip val_bpb and the gap for each,
# with the ratios the issue sets targets for, and writes the rows as TSV to
# bench/out/sp_<label>.tsv.
#   bench/selective_precision.sh MODEL.safetensors CALIB.safetensors DATA_DIR LABEL [SEQ_LEN] [EVAL_TOKENS]
# EVAL_TOKENS 0 (the default) scores the whole validation split.
# Targets: all-paths gap <= 0.75 x scalar-only gap at 2.5 and 3.0 bits/param;
# rd's gap <= 1/3 of record-lqer's at int6 and int5, <= 1/2 at int4.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
model="$1"; calib="$2"; data="$3"; label="$4"; seq="${5:-1024}"; evtok="${6:-0}"
build="${GOLFPACK_BUILD_DIR:-$root/build}"; gp="$build/src/cli/golfpack"
out="$root/bench/out/sp_$label"; mkdir -p "$out"
tsv="$root/bench/out/sp_$label.tsv"
val() { "$gp" -q eval "$1" --data "$data" --seq-len "$seq" --max-tokens "$evtok" --json | sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p'; }
field() { sed -n "s/^$2 *\([0-9.]*\).*/\1/p" "$1"; }
pre=$(val "$model")
params=$("$gp" -q pack "$model" -r pg-int8-zlib -o "$out/pg.gpk" | sed -n 's/^params *\([0-9]*\).*/\1/p')
printf "config\tbudget\tcounted\tbits_per_param\tpost_val_bpb\tgap\tlqer_bytes\n" >"$tsv"
gap_of() { awk -F'\t' -v c="$1" '$1 == c { print $6 }' "$tsv"; }
# rd NAME BUDGET [--paths grid]
rd() {
  local name="$1" budget="$2"; shift 2
  local all=(--paths all); [[ " $* " == *" --paths "* ]] && all=()
  "$gp" -q pack "$model" -r rd --calib "$calib" --budget "$budget" -o "$out/$name.gpk" \
    --report "$out/$name.roi.json" "${all[@]}" "$@" >"$out/$name.txt"
  local c post lq
  c=$(field "$out/$name.txt" counted); post=$(val "$out/$name.gpk")
  lq=$(sed -n 's/^path *lqer .* \([0-9][0-9]*\) bytes.*/\1/p' "$out/$name.txt"); lq=${lq:-0}
  awk -v n="$name" -v b="$budget" -v c="$c" -v p="$post" -v pre="$pre" -v np="$params" -v lq="$lq" \
    'BEGIN { printf "%s\t%d\t%d\t%.4f\t%.6f\t%.6f\t%d\n", n, b, c, 8*c/np, p, p-pre, lq }' >>"$tsv"
  echo "selective_precision: $name done" >&2
}
for bpp in 2.5 3.0 4.0; do
  b=$(awk -v n="$params" -v x="$bpp" 'BEGIN { printf "%d", n*x/8 }')
  rd "grid@$bpp" "$b" --paths grid
  rd "all@$bpp" "$b"
done
for w in 6 5 4; do
  r="record-lqer:int$w"
  "$gp" -q pack "$model" -r "$r" --calib "$calib" -o "$out/rec$w.gpk" >"$out/rec$w.txt"
  c=$(field "$out/rec$w.txt" counted); post=$(val "$out/rec$w.gpk")
  awk -v n="$r" -v c="$c" -v p="$post" -v pre="$pre" -v np="$params" \
    'BEGIN { printf "%s\t0\t%d\t%.4f\t%.6f\t%.6f\t0\n", n, c, 8*c/np, p, p-pre }' >>"$tsv"
  rd "all@int$w" "$c"
done
echo "model $model: $params params, pre-quantization val_bpb $pre (seq $seq, eval tokens ${evtok/#0/all})"
column -t -s $'\t' "$tsv"
echo
for bpp in 2.5 3.0 4.0; do
  awk -v a="$(gap_of "all@$bpp")" -v g="$(gap_of "grid@$bpp")" -v x="$bpp" -v t="$([ "$bpp" = 4.0 ] && echo - || echo 0.75)" \
    'BEGIN { printf "%s bits/param: all paths / scalar grids only = %.6f / %.6f = %.3f (target %s)\n", x, a, g, a/g, t }'
done
for w in 6 5 4; do
  awk -v a="$(gap_of "all@int$w")" -v g="$(gap_of "record-lqer:int$w")" -v w="$w" -v t="$([ "$w" = 4 ] && echo 0.5 || echo 0.333)" \
    'BEGIN { printf "record-lqer int%s bytes: rd / record-lqer = %.6f / %.6f = %.3f (target <= %s)\n", w, a, g, a/g, t }'
done
