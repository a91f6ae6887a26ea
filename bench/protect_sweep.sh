#!/usr/bin/env bash
# The protected-byte budget sweep (issue 11, seeds 002/003): at one fixed
# total budget (default 2.5 bits/param counted), cap the bytes rd may give the
# protection paths together (`--protect-bytes P`: lqer, sparse, blocks,
# columns, rows) and measure the loss after the round trip. Prints protected bytes against post val_bpb and
# the gap, writes bench/out/protect_<label>.tsv and an SVG of the curve.
# The question it answers: is the curve steep first and then flat?
#   bench/protect_sweep.sh MODEL.safetensors CALIB.safetensors DATA_DIR LABEL [BITS_PER_PARAM] [SEQ_LEN] [EVAL_TOKENS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
model="$1"; calib="$2"; data="$3"; label="$4"; bpp="${5:-2.5}"; seq="${6:-1024}"; evtok="${7:-0}"
build="${GOLFPACK_BUILD_DIR:-$root/build}"; gp="$build/src/cli/golfpack"
out="$root/bench/out/protect_$label"; mkdir -p "$out"
tsv="$root/bench/out/protect_$label.tsv"
val() { "$gp" -q eval "$1" --data "$data" --seq-len "$seq" --max-tokens "$evtok" --json | sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p'; }
pre=$(val "$model")
params=$("$gp" -q pack "$model" -r pg-int8-zlib -o "$out/pg.gpk" | sed -n 's/^params *\([0-9]*\).*/\1/p')
budget=$(awk -v n="$params" -v x="$bpp" 'BEGIN { printf "%d", n*x/8 }')
printf "protect_cap\tprotected_bytes\tcounted\tpredicted_loss\tpost_val_bpb\tgap\n" >"$tsv"
for cap in 0 500 1000 2000 4000 8000 16000 none; do
  extra=(); [ "$cap" = none ] || extra=(--protect-bytes "$cap")
  "$gp" -q pack "$model" -r rd --calib "$calib" --budget "$budget" -o "$out/p$cap.gpk" --paths all "${extra[@]}" >"$out/p$cap.txt"
  got=$(awk '$1 == "path" && $2 != "grid" { b += $5 } END { print b + 0 }' "$out/p$cap.txt")
  c=$(sed -n 's/^counted *\([0-9]*\).*/\1/p' "$out/p$cap.txt")
  pl=$(sed -n 's/^predicted loss increase \([0-9.e+-]*\).*/\1/p' "$out/p$cap.txt")
  post=$(val "$out/p$cap.gpk")
  awk -v a="$cap" -v g="$got" -v c="$c" -v pl="$pl" -v p="$post" -v pre="$pre" \
    'BEGIN { printf "%s\t%d\t%d\t%s\t%.6f\t%.6f\n", a, g, c, pl, p, p-pre }' >>"$tsv"
  echo "protect_sweep: cap $cap done" >&2
done
echo "model $model: $params params, budget $budget bytes ($bpp bits/param counted), pre val_bpb $pre"
column -t -s $'\t' "$tsv"
/usr/bin/python3 - "$tsv" "$root/bench/out/protect_$label.svg" "$label" "$bpp" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
pts = sorted((int(r[1]), float(r[5])) for r in rows)
W, H, L, R, T, B = 560, 360, 80, 20, 40, 50
x1 = max(p[0] for p in pts) * 1.1 or 1
y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
pad = (y1 - y0) * 0.1 or 0.001
y0, y1 = y0 - pad, y1 + pad
X = lambda x: L + (W - L - R) * x / x1
Y = lambda y: T + (H - T - B) * (1 - (y - y0) / (y1 - y0))
s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
     f'<rect width="{W}" height="{H}" fill="white"/>',
     f'<text x="{W/2}" y="20" text-anchor="middle">{sys.argv[3]}: gap vs bytes given to protection (all paths), {sys.argv[4]} bits/param total</text>',
     f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/><line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>',
     f'<text x="{W/2}" y="{H-12}" text-anchor="middle">protected bytes</text>',
     f'<text x="16" y="{H/2}" transform="rotate(-90 16 {H/2})" text-anchor="middle">gap (val_bpb)</text>']
for i in range(5):
    xv, yv = x1 * i / 4, y0 + (y1 - y0) * i / 4
    s.append(f'<text x="{X(xv)}" y="{H-B+16}" text-anchor="middle">{xv:.0f}</text>')
    s.append(f'<text x="{L-6}" y="{Y(yv)+4}" text-anchor="end">{yv:.4f}</text>')
s.append('<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="' + " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in pts) + '"/>')
for x, y in pts:
    s.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3" fill="#1f77b4"/>')
s.append("</svg>")
open(sys.argv[2], "w").write("\n".join(s) + "\n")
print("svg:", sys.argv[2])
PY
