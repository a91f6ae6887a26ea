#!/usr/bin/env bash
# Speed of `golfpack calibrate` at default settings (Hessians over 65536
# tokens, sensitivity probes over 16384, seq_len 1024) on a 2.1M-parameter
# model (4 layers x 256, GQA 4/2 heads, MLP 2x, vocab 1024), the shape of
# issue 6. Prints a table of wall and CPU (user+sys, all threads) seconds per
# phase, from the command's own phase clocks (-v), and for the whole process.
#   bench/calibrate_speed.sh [build-dir]
# Model and data: MODEL=path.safetensors DATA=dir; else /tmp/m3.safetensors
# with /tmp/cdata when both exist (the model of issue 12's measurements); else
# a model trained here on the default corpus (ITERATIONS steps, default 30).
# Env: WORK (scratch dir, reused: data + model are built once), BEFORE=path to
# an older golfpack binary to run first for a before/after table (and a
# comparison of the two output files: H and sensitivities), EXTRA (more
# calibrate flags, e.g. "--seq-len 256" or "--threads 1").
# The machine's load average is printed with each run: wall times are only
# comparable between runs on an equally idle machine; CPU seconds less so too.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
gp="$build/src/cli/golfpack"
[ -x "$gp" ] || { echo "calibrate_speed: $gp not built (run scripts/setup)" >&2; exit 1; }
source "$root/scripts/env.sh"
work="${WORK:-/tmp/golfpack_calibrate_speed}"
mkdir -p "$work"
if [ -n "${MODEL:-}" ]; then
  model="$MODEL" data="${DATA:?give DATA=dir with fineweb_train_*.bin along with MODEL}"
elif [ -f /tmp/m3.safetensors ] && [ -f /tmp/cdata/fineweb_train_000000.bin ]; then
  model=/tmp/m3.safetensors data=/tmp/cdata
else
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
fi
echo "calibrate_speed: model $model, data $data, flags: ${EXTRA:-(defaults)}" >&2

# run NAME BINARY: prints "phase<TAB>wall<TAB>cpu" rows to $work/NAME.rows
run() {
  local name="$1" bin="$2" log="$work/$1.log"
  echo "[$name] load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  /usr/bin/time -f "TIME %e %U %S" -o "$work/$name.time" \
    "$bin" -v -q calibrate "$model" --data "$data" -o "$work/$name.calib.safetensors" ${EXTRA:-} >"$log" 2>&1 ||
    { cat "$log" >&2; exit 1; }
  echo "[$name] load average after:  $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  sed -n 's/^phase  \(.*[^ ]\) *wall *\([0-9.]*\) s  cpu *\([0-9.]*\) s$/\1\t\2\t\3/p' "$log" >"$work/$name.rows"
  read -r _ e u s <"$work/$name.time"
  awk -v e="$e" -v u="$u" -v s="$s" 'BEGIN { printf "whole process (time)\t%s\t%.2f\n", e, u + s }' >>"$work/$name.rows"
  grep -E "Spearman|^sensitivity |^workers" "$log" | sed "s/^/[$name] /" >&2
}

names=()
if [ -n "${BEFORE:-}" ]; then
  run before "$BEFORE"
  names+=(before)
fi
run after "$gp"
names+=(after)

printf "%-42s" phase
for n in "${names[@]}"; do printf " %12s %12s" "$n wall s" "$n CPU s"; done
echo
# Phases in the order the newest run reports them, then any only the older had.
phases="$(cut -f1 "$work/after.rows"; [ -n "${BEFORE:-}" ] && cut -f1 "$work/before.rows" || true)"
printf "%s\n" "$phases" | awk '!seen[$0]++' | while IFS= read -r p; do
  printf "%-42s" "$p"
  for n in "${names[@]}"; do
    row="$(awk -F'\t' -v p="$p" '$1 == p { print $2 " " $3 }' "$work/$n.rows")"
    if [ -n "$row" ]; then printf " %12.2f %12.2f" $row; else printf " %12s %12s" - -; fi
  done
  echo
done

# Did the output change? Largest difference of H (relative to the site's
# largest |H|), float32 elements that differ, and sensitivity differences.
if [ -n "${BEFORE:-}" ]; then
  python3 - "$work/before.calib.safetensors" "$work/after.calib.safetensors" <<'EOF'
import array, json, struct, sys

def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", (name, t["dtype"])
        lo, hi = t["data_offsets"]
        tensors[name] = array.array("f", b[8 + n + lo:8 + n + hi])
    return tensors, meta

(ta, ma), (tb, mb) = load(sys.argv[1]), load(sys.argv[2])
if ta.keys() != tb.keys():
    sys.exit(f"output: different sites: {sorted(ta.keys() ^ tb.keys())}")
worst, differ, total = 0.0, 0, 0
for name in ta:
    a, b = ta[name], tb[name]
    scale = max(abs(v) for v in a) or 1.0
    worst = max(worst, max(abs(x - y) for x, y in zip(a, b)) / scale)
    differ += sum(x != y for x, y in zip(a, b))
    total += len(a)
print(f"output H: {len(ta)} sites, {differ} of {total} float32 values differ, max |dH| / max |H| = {worst:.3g}")
sens = "golfpack.sensitivity."
sa = {k[len(sens):]: float(v) for k, v in ma.items() if k.startswith(sens)}
sb = {k[len(sens):]: float(v) for k, v in mb.items() if k.startswith(sens)}
if sa.keys() != sb.keys():
    sys.exit(f"output: different weights measured: {sorted(sa.keys() ^ sb.keys())}")
if sa:
    rel = sorted((abs(sa[k] - sb[k]) / abs(sa[k]) if sa[k] else abs(sb[k]), k) for k in sa)
    same = sum(sa[k] == sb[k] for k in sa)
    print(f"output sensitivities: {len(sa)} weights, {same} identical, relative difference median "
          f"{rel[len(rel) // 2][0]:.3g}, max {rel[-1][0]:.3g} ({rel[-1][1]})")
for k in ("golfpack.tokens", "golfpack.seq_len", "golfpack.sensitivity_spearman_raw",
          "golfpack.sensitivity_spearman_fitted"):
    if ma.get(k) != mb.get(k):
        print(f"output {k}: {ma.get(k)} -> {mb.get(k)}")
EOF
fi
