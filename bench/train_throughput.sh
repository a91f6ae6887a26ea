#!/usr/bin/env bash
# Training throughput (forward + backward + Adam step, float32, CPU) of
# golfpack's libtorch GPT vs the same model in Python PyTorch eager, measured
# in the same run on the same machine, for the demo and the 17M PG shapes.
#   bench/train_throughput.sh [build-dir]      (needs scripts/setup first)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
source "$root/scripts/env.sh"
threads="${THREADS:-$(nproc)}"
cpp="$build/bench/train_throughput"
py="/usr/bin/python3 $root/bench/train_throughput_py.py"
[ -x "$cpp" ] || { echo "train_throughput: $cpp not built (run scripts/setup)" >&2; exit 1; }

shapes=(
  "demo|--layers 6 --dim 256 --heads 4 --kv-heads 2 --mlp-mult 2 --vocab 1024 --seq-len 256 --batch 8 --steps ${DEMO_STEPS:-8} --warmup-steps 2"
  "pg-17M|--layers 9 --dim 512 --heads 8 --kv-heads 4 --mlp-mult 2 --vocab 1024 --seq-len 1024 --batch 2 --steps ${PG_STEPS:-4} --warmup-steps 1"
)
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
printf "%-8s %10s %14s %14s %8s\n" shape params "golfpack tok/s" "python tok/s" ratio
for s in "${shapes[@]}"; do
  name="${s%%|*}"; args="${s#*|}"
  # Alternate the two implementations so machine noise hits both alike.
  c1=$($cpp $args --threads "$threads" --json | field tokens_per_s)
  p1=$($py $args --threads "$threads" --json | field tokens_per_s)
  c2=$($cpp $args --threads "$threads" --json | field tokens_per_s)
  p2=$($py $args --threads "$threads" --json | field tokens_per_s)
  params=$($cpp $args --steps 1 --warmup-steps 0 --json | field params)
  awk -v n="$name" -v k="$params" -v c1="$c1" -v c2="$c2" -v p1="$p1" -v p2="$p2" \
    'BEGIN { c = (c1 + c2) / 2; p = (p1 + p2) / 2; printf "%-8s %10s %14.0f %14.0f %8.2f\n", n, k, c, p, c / p }'
done
