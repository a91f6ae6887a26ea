#!/usr/bin/env bash
# Selective precision path by path (issue 11): rd at one budget with scalar
# grids only, then grids plus exactly one protection path (sparse exceptions,
# structured micro-block exceptions, protected columns, protected rows, LQER,
# a step per row),
# then every path. All runs fill the same budget, so they compare at equal
# final bytes. Prints, per run, the counted bytes, the bytes the protection
# path took, rd's predicted loss, post-round-trip val_bpb and the gap, and
# the thesis line: structured (blocks) against unstructured (sparse).
#   bench/exceptions.sh MODEL.safetensors CALIB.safetensors DATA_DIR LABEL [BITS_PER_PARAM] [SEQ_LEN] [EVAL_TOKENS]
# Writes bench/out/exc_<label>.tsv. EVAL_TOKENS 0 (the default) scores the whole validation split.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
model="$1"; calib="$2"; data="$3"; label="$4"; bpp="${5:-2.5}"; seq="${6:-1024}"; evtok="${7:-0}"
build="${GOLFPACK_BUILD_DIR:-$root/build}"; gp="$build/src/cli/golfpack"
out="$root/bench/out/exc_$label"; mkdir -p "$out"
tsv="$root/bench/out/exc_$label.tsv"  # label: add the rate (e.g. m3_2.5) to keep runs apart
val() { "$gp" -q eval "$1" --data "$data" --seq-len "$seq" --max-tokens "$evtok" --json | sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p'; }
pre=$(val "$model")
params=$("$gp" -q pack "$model" -r pg-int8-zlib -o "$out/pg.gpk" | sed -n 's/^params *\([0-9]*\).*/\1/p')
budget=$(awk -v n="$params" -v x="$bpp" 'BEGIN { printf "%d", n*x/8 }')
printf "paths\tcounted\tprotect_bytes\tprotect_units\tpredicted_loss\tpost_val_bpb\tgap\n" >"$tsv"
# PATHS="grid all" (space-separated) runs only those; EXTRA="..." adds pack options.
for paths in ${PATHS:-grid grid,sparse grid,blocks grid,columns grid,rows grid,lqer grid,rowstep all}; do
  name="${paths//,/+}"
  args=(--paths "$paths")
  # EXTRA="--patch-fit compensate" adds pack options to every run.
  read -r -a extra <<<"${EXTRA:-}"; args+=("${extra[@]}")
  "$gp" -q pack "$model" -r rd --calib "$calib" --budget "$budget" -o "$out/$name.gpk" \
    --report "$out/$name.roi.json" "${args[@]}" >"$out/$name.txt"
  c=$(sed -n 's/^counted *\([0-9]*\).*/\1/p' "$out/$name.txt")
  pl=$(sed -n 's/^predicted loss increase \([0-9.e+-]*\).*/\1/p' "$out/$name.txt")
  # Protection bytes and units: every path row but grid.
  pb=$(awk '$1 == "path" && $2 != "grid" { b += $5 } END { print b + 0 }' "$out/$name.txt")
  pu=$(awk '$1 == "path" && $2 != "grid" { u += $3 } END { print u + 0 }' "$out/$name.txt")
  post=$(val "$out/$name.gpk")
  awk -v n="$paths" -v c="$c" -v pb="$pb" -v pu="$pu" -v pl="$pl" -v p="$post" -v pre="$pre" \
    'BEGIN { printf "%s\t%d\t%d\t%d\t%s\t%.6f\t%.6f\n", n, c, pb, pu, pl, p, p-pre }' >>"$tsv"
  echo "exceptions: $paths done" >&2
done
echo "model $model: $params params, budget $budget counted bytes ($bpp bits/param), pre-quantization val_bpb $pre"
column -t -s $'\t' "$tsv"
awk -F'\t' '$1 == "grid,sparse" { s = $7 } $1 == "grid,blocks" { b = $7 } $1 == "grid" { g = $7 }
  END { if (s == "" || b == "") exit; printf "structured (blocks) vs unstructured (sparse) at equal final bytes: gap %.6f vs %.6f (grid only %.6f): %s\n",
        b, s, g, (b < s ? "structured wins" : b > s ? "unstructured wins" : "tie") }' "$tsv"
