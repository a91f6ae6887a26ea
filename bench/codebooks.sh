#!/usr/bin/env bash
# Shared codebooks against tensor-specific ones and uniform grids (issue 9,
# item 1: do repeated small codebooks beat large tensor-specific ones?).
#
# Every row packs the block matrices with GPTQ onto BITS bits per index and
# the same rest (embedding u8:row:sd20:nocap, control tensors f32, the rest
# f16, brotli -q 11 over one section), through `rules:` factory strings:
#   uniform    gptq:uB:row:none          the uniform grid, clip at max|w|
#   tensor     gptq:cbB:row              one k-means codebook per matrix
#   family     attn / mlp rules, each gptq:cbB:row:shared: one per family
#   all        matrix=gptq:cbB:row:shared: one codebook for every matrix
# and scores the round trip (post val_bpb). Codebook bytes (4 x 2^B per
# object) are counted in the file.
#
#   bench/codebooks.sh MODEL CALIB DATA SEQ [--bits "2 3 4"] [--out PREFIX] [--max-tokens N]
#
# Writes PREFIX.tsv (default /tmp/golfpack-codebooks) and prints it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gp="${GOLFPACK_BUILD_DIR:-$root/build}/src/cli/golfpack"
[ $# -ge 4 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
model="$1" calib="$2" data="$3" seq="$4"; shift 4
bits="2 3 4" out=/tmp/golfpack-codebooks maxtok=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bits) bits="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --max-tokens) maxtok="$2"; shift 2 ;;
    *) echo "codebooks: unknown option $1" >&2; exit 2 ;;
  esac
done
work="$out.work"; mkdir -p "$work"
rest="any=f16,codec=brotli"
head="control=f32,embedding=u8:row:sd20:nocap"
evargs=(--data "$data" --seq-len "$seq" --json); [ "$maxtok" != 0 ] && evargs+=(--max-tokens "$maxtok")
pre=$("$gp" -q eval "$model" "${evargs[@]}" | sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p')
printf "bits\trow\tcounted_bytes\tbits_per_param\tobjects\tpost_val_bpb\tgap\trecipe\n" >"$out.tsv"
for b in $bits; do
  for row in uniform tensor family all; do
    case "$row" in
      uniform) r="rules:$head,matrix=gptq:u$b:row:none,$rest" ;;
      tensor) r="rules:$head,matrix=gptq:cb$b:row,$rest" ;;
      family) r="rules:$head,attn=gptq:cb$b:row:shared,mlp=gptq:cb$b:row:shared,matrix=gptq:cb$b:row:shared,$rest" ;;
      all) r="rules:$head,matrix=gptq:cb$b:row:shared,$rest" ;;
    esac
    f="$work/b$b-$row.gpk"
    "$gp" -q pack "$model" --calib "$calib" -r "$r" -o "$f" >"$f.log" 2>&1 || { echo "codebooks: pack failed: $(tail -1 "$f.log")" >&2; exit 1; }
    counted=$(sed -n 's/^counted *\([0-9,]*\).*/\1/p' "$f.log" | tr -d ,)
    params=$(sed -n 's/^params *\([0-9,]*\).*/\1/p' "$f.log" | tr -d ,)
    objs=$("$gp" inspect "$f" --json | python3 -c 'import json,sys; print(sum(k.startswith("object:") for k in json.load(sys.stdin)["parts"]))')
    post=$("$gp" -q eval "$f" "${evargs[@]}" | sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p')
    python3 - "$b" "$row" "$counted" "$params" "$objs" "$post" "$pre" "$r" >>"$out.tsv" <<'EOF'
import sys
b, row, counted, params, objs, post, pre, r = sys.argv[1:]
print(f"{b}\t{row}\t{counted}\t{8 * int(counted) / int(params):.4f}\t{objs}\t{float(post):.6f}\t{float(post) - float(pre):.6f}\t{r}")
EOF
    tail -1 "$out.tsv" | cut -f1-7 >&2
  done
done
echo "# pre val_bpb $pre ($model)" >>"$out.tsv"
column -t -s $'\t' "$out.tsv" | cut -c1-120
