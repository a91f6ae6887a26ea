#!/usr/bin/env bash
# rd:all with the tcq path priced by trellis-probe sensitivities, against the
# calibration's own, at equal counted bytes (docs/results/structure.md,
# "Trellis candidates priced with their own sensitivity").
#   bench/tcq_sensitivity.sh MODEL CALIB 'TRAIN_SHARDS' DATA_DIR BUDGET LABEL [SEQ_LEN]
# CALIB is the window's ordinary calibration (made from TRAIN_SHARDS); the
# script calibrates the same tokens again with a trellis probe, then packs
# `rd:all --hessian-shrink 0.1` three ways (the calibration alone,
# --tcq-sensitivity per weight, and pooled per kind by bench/tcq_pool.py),
# scores each after the round trip and appends one row per way to
# bench/out/tcq_sensitivity_<label>.tsv. PROBE overrides the trellis probe;
# THREADS=N passes --threads N (the recorded runs used 1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
model="$1"; calib="$2"; shards="$3"; data="$4"; budget="$5"; label="$6"; seq="${7:-256}"
build="${GOLFPACK_BUILD_DIR:-$root/build}"; gp=("$build/src/cli/golfpack" ${THREADS:+--threads "$THREADS"})
out="$root/bench/out/tcq_sensitivity_$label"; mkdir -p "$out"
tsv="$root/bench/out/tcq_sensitivity_$label.tsv"
probe="${PROBE:-gptq:tcq:s0.7:st3:damp0.11}"
[ -f "$tsv" ] || printf 'label\tway\tcounted\tpredicted_loss\ttcq_units\tpost_val_bpb\n' > "$tsv"
"${gp[@]}" -q calibrate "$model" --train-files "$shards" --tokens 65536 --seq-len "$seq" --probe "$probe" \
  --check "${probe/s0.7/s1.4}" -o "$out/tcq.calib.safetensors"
python3 "$root/bench/tcq_pool.py" "$calib" "$out/tcq.calib.safetensors" "$out/pooled.calib.safetensors"
for way in base per_weight pooled; do
  extra=()
  [ "$way" = per_weight ] && extra=(--tcq-sensitivity "$out/tcq.calib.safetensors")
  [ "$way" = pooled ] && extra=(--tcq-sensitivity "$out/pooled.calib.safetensors")
  "${gp[@]}" pack "$model" -r rd:all --hessian-shrink 0.1 --calib "$calib" --budget "$budget" "${extra[@]}" \
    -o "$out/$way.gpk" > "$out/$way.log"
  v=$("${gp[@]}" -q eval "$out/$way.gpk" --data "$data" --seq-len "$seq" --json | sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$way" "$(sed -n 's/^counted *\([0-9]*\).*/\1/p' "$out/$way.log")" \
    "$(sed -n 's/^predicted loss increase \([0-9.e+-]*\).*/\1/p' "$out/$way.log")" \
    "$(awk '$1 == "path" && $2 == "tcq" {print $3}' "$out/$way.log")" "$v" | tee -a "$tsv"
done
