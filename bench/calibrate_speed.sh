#!/usr/bin/env bash
# Speed of `golfpack calibrate` at default settings (Hessians over 65536
# tokens, sensitivity probes over 16384) on a 2.1M-parameter model
# (4 layers x 256, GQA 4/2 heads, MLP 2x, vocab 1024), the shape of issue 6.
# Prints wall and CPU (user+sys, all threads) seconds per phase, from the
# command's own phase clocks (-v), and for the whole process.
#   bench/calibrate_speed.sh [build-dir]
# Env: WORK (scratch dir, reused: data + model are built once), BEFORE=path to
# an older golfpack binary to run first for a before/after table, ITERATIONS
# (training steps of the model, default 30), EXTRA (more calibrate flags).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
gp="$build/src/cli/golfpack"
[ -x "$gp" ] || { echo "calibrate_speed: $gp not built (run scripts/setup)" >&2; exit 1; }
work="${WORK:-/tmp/golfpack_calibrate_speed}"
mkdir -p "$work"
data="$work/data" model="$work/m2.safetensors"
if [ ! -f "$data/fineweb_train_000000.bin" ]; then
  echo "calibrate_speed: building data in $data" >&2
  "$gp" -q data -o "$data" >&2
fi
if [ ! -f "$model" ]; then
  echo "calibrate_speed: training the 2.1M model $model" >&2
  "$gp" -q train --data "$data" --layers 4 --dim 256 --heads 4 --kv-heads 2 --mlp-mult 2 --vocab 1024 \
    --seq-len 256 --iterations "${ITERATIONS:-30}" -o "$model" >&2
fi

# run NAME BINARY: prints "NAME<TAB>phase<TAB>wall<TAB>cpu" rows to $work/NAME.rows
run() {
  local name="$1" bin="$2" log="$work/$1.log"
  /usr/bin/time -f "TIME %e %U %S" -o "$work/$name.time" \
    "$bin" -v -q calibrate "$model" --data "$data" -o "$work/$name.calib.safetensors" ${EXTRA:-} >"$log" 2>&1
  sed -n 's/^phase  \(.*[^ ]\) *wall *\([0-9.]*\) s  cpu *\([0-9.]*\) s$/\1\t\2\t\3/p' "$log" >"$work/$name.rows"
  read -r _ e u s <"$work/$name.time"
  awk -v e="$e" -v u="$u" -v s="$s" 'BEGIN { printf "whole process (time)\t%s\t%.2f\n", e, u + s }' >>"$work/$name.rows"
  grep -E "Spearman|^sensitivity " "$log" | sed "s/^/[$name] /" >&2
}

names=()
if [ -n "${BEFORE:-}" ]; then
  run before "$BEFORE"
  names+=(before)
fi
run after "$gp"
names+=(after)

printf "%-42s" phase
for n in "${names[@]}"; do printf " %10s %10s" "$n wall" "$n cpu"; done
echo
# Phases in the order the newest run reports them, then any only the older had.
phases="$(cut -f1 "$work/after.rows"; [ -n "${BEFORE:-}" ] && cut -f1 "$work/before.rows" || true)"
printf "%s\n" "$phases" | awk '!seen[$0]++' | while IFS= read -r p; do
  printf "%-42s" "$p"
  for n in "${names[@]}"; do
    row="$(awk -F'\t' -v p="$p" '$1 == p { print $2 " " $3 }' "$work/$n.rows")"
    if [ -n "$row" ]; then printf " %10.2f %10.2f" $row; else printf " %10s %10s" - -; fi
  done
  echo
done
