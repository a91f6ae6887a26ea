#!/usr/bin/env bash
# Training throughput (forward + backward + Adam step, float32, CPU) of
# golfpack's libtorch GPT vs the same model in Python PyTorch eager, measured
# in the same run on the same machine, for the demo and the 17M PG shapes.
# Next to tokens/s, each implementation reports the cores it kept busy over
# the timed steps: (user + sys CPU seconds of the process) / wall seconds.
#   bench/train_throughput.sh [build-dir]      (needs scripts/setup first)
# THREADS=N sets libtorch's and OpenBLAS's threads in both (default: nproc);
# BLAS_THREADS=N sets OpenBLAS's alone (-1: as OPENBLAS_NUM_THREADS says, e.g.
# OPENBLAS_NUM_THREADS=1 BLAS_THREADS=-1 reproduces the single-threaded matmuls).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
source "$root/scripts/env.sh"
threads="${THREADS:-$(nproc)}"
blas_threads="${BLAS_THREADS:-0}"
cpp="$build/bench/train_throughput"
py="/usr/bin/python3 $root/bench/train_throughput_py.py"
[ -x "$cpp" ] || { echo "train_throughput: $cpp not built (run scripts/setup)" >&2; exit 1; }

shapes=(
  "demo|--layers 6 --dim 256 --heads 4 --kv-heads 2 --mlp-mult 2 --vocab 1024 --seq-len 256 --batch 8 --steps ${DEMO_STEPS:-8} --warmup-steps 2"
  "pg-17M|--layers 9 --dim 512 --heads 8 --kv-heads 4 --mlp-mult 2 --vocab 1024 --seq-len 1024 --batch 2 --steps ${PG_STEPS:-4} --warmup-steps 1"
)
field() { sed -n "s/.*\"$1\":\([-0-9.]*\).*/\1/p"; }
blas=$($cpp --threads "$threads" --blas-threads "$blas_threads" --steps 1 --warmup-steps 0 --json | sed -n 's/.*"blas_threads":\([-0-9]*\).*"gemm":"\([^"]*\)".*/OpenBLAS threads \1, sgemm from \2/p')
echo "threads $threads ($(nproc) CPUs); $blas"
printf "%-8s %10s %14s %6s %14s %6s %8s\n" shape params "golfpack tok/s" cores "python tok/s" cores ratio
for s in "${shapes[@]}"; do
  name="${s%%|*}"; args="${s#*|}"
  # Alternate the two implementations so machine noise hits both alike.
  c1=$($cpp $args --threads "$threads" --blas-threads "$blas_threads" --json)
  p1=$($py $args --threads "$threads" --blas-threads "$blas_threads" --json)
  c2=$($cpp $args --threads "$threads" --blas-threads "$blas_threads" --json)
  p2=$($py $args --threads "$threads" --blas-threads "$blas_threads" --json)
  params=$(field params <<<"$c1")
  awk -v n="$name" -v k="$params" \
    -v c1="$(field tokens_per_s <<<"$c1")" -v c2="$(field tokens_per_s <<<"$c2")" \
    -v p1="$(field tokens_per_s <<<"$p1")" -v p2="$(field tokens_per_s <<<"$p2")" \
    -v cu1="$(field cores_used <<<"$c1")" -v cu2="$(field cores_used <<<"$c2")" \
    -v pu1="$(field cores_used <<<"$p1")" -v pu2="$(field cores_used <<<"$p2")" \
    'BEGIN { c = (c1 + c2) / 2; p = (p1 + p2) / 2
             printf "%-8s %10s %14.0f %6.2f %14.0f %6.2f %8.2f\n", n, k, c, (cu1 + cu2) / 2, p, (pu1 + pu2) / 2, c / p }'
done
