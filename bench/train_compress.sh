#!/usr/bin/env bash
# Training for compressibility (issue 10): does a model trained through the
# codec (QAT), under a rate penalty, under low-rank pressure, with shared
# depth or with an extra RMSNorm score better after the round trip at equal
# final bytes than a plainly trained one?
#
# For each seed and configuration: train the demo shape (6 layers, d 256, 4/2
# heads, MLP 2x, vocab 1024, seq 256) for the same steps and batch (equal
# training tokens), score it (pre val_bpb, the safetensors), calibrate it
# (H + fitted sensitivities, as the demo: 65536 tokens, 8192 for sensitivity,
# seq 256), pack it with `-r rd` at the plain model's counted bytes for 2.5
# and 3.5 bits/param, and score each .gpk (post val_bpb). Budget rule of
# `golfpack demo` (cmd_demo.cpp): llround(bits x params / 8) counted bytes
# (file + decoder code), of the PLAIN model's params: every row of the table
# is at the same final bytes. `shared` has fewer params; it is also packed at
# 2.5/3.5 bits of its own params (row `shared@own-bits`: equal bits/param,
# fewer bytes).
# Then the finetune test (issue item 6): the plain model of each seed trained
# on (`--init`) for --ft-frac (10%) of the original training tokens with QAT
# and the rate penalty (`finetune-qat`), and for the same tokens without them
# (`finetune-control`: extra training alone also lowers val_bpb), both packed
# and scored like the rest. (The trainer reads the train shards in order, so
# a finetune sees the first tokens of the stream again; both alike.)
#
#   bench/train_compress.sh [--work DIR] [--seeds 1,2,3] [--steps N] [--configs LIST]
#       [--best "TRAIN ARGS"] [--eval-tokens N] [--pack-args "ARGS"] [--out PREFIX]
#       [--threads N] [--no-finetune] [--smoke]
#
#   --work DIR         scratch dir, reused (default /tmp/golfpack-train-compress):
#                      data/ once, then s<seed>/<config>/{model.safetensors, train.jsonl,
#                      pre.json, calib.safetensors, rd25.gpk, post25.json, ...}
#   --seeds LIST       comma-separated training seeds (default 1,2,3). The seed sets
#                      the init only: the data order is the same sequential stream.
#   --steps N          training steps of every config (default 48 x 8192 tokens =
#                      393k tokens: ~2.6 min on 2 cores at the demo's ~2500 tokens/s)
#   --batch-tokens N   tokens per step (default 8192, the demo's)
#   --configs LIST     subset of plain,qat,rate,lowrank,shared,extranorm,best
#                      (default all; plain is always trained: it sets the budgets)
#   --best "ARGS"      train flags of `best` (default: the qat + rate flags + --extra-norm)
#   --eval-tokens N    val tokens scored (0 = the whole val split, the default)
#   --pack-args "ARGS" more `pack -r rd` flags, e.g. "--paths grid" (default: rd's
#                      default paths, grid and rowalloc; "--paths all" takes ~80 s per pack here)
#   --ft-frac F        finetune tokens as a fraction of the training tokens (default 0.1)
#   --ft-batch N       finetune tokens per step (default 2048: 4x the steps of the
#                      main batch for the same tokens); --ft-lr-scale S (default 0.25)
#                      scales every LR of the finetune (it starts from a model whose
#                      LR ended near 0; linear decay over the finetune, no warmup)
#   --out PREFIX       PREFIX.tsv (one row per seed x config, every raw number) and
#                      PREFIX.md (the table); default WORK/train_compress
#   --threads N        golfpack --threads (default: all cores)
#   --no-finetune      skip the finetune rows
#   --smoke            1 seed, 4 steps, 4096 val tokens, calibration on 4096 tokens
#                      (sensitivity 1024), rd with --paths grid, WORK default
#                      /tmp/golfpack-train-compress-smoke: the whole pipeline in minutes
#
# Time on 2 cores (estimates from the demo's logs and single packs here, on a
# shared machine): per trained model ~3 min of training (48 steps at ~2500
# tokens/s; the rate penalty adds ~20%), ~20 s per eval of the whole val
# split (3 per model), ~1 min of calibration, ~80 s per rd pack with every
# path (~5 s with --pack-args "--paths grid"): ~8 min per model, ~3.5 h for
# the defaults (21 models, shared's 2 extra packs, 6 finetunes); ~2 h with
# "--paths grid", ~1.7 h adding --eval-tokens 65536. --smoke took 8 min here
# (niced, load average 3-9).
#
# Order: every seed of plain, then every seed of each other config, then the
# finetunes, so a run stopped early leaves whole seed sets.
# Progress goes to stderr, one line per step with its wall time. Resumable:
# a step whose output exists is skipped (outputs are written under a temporary
# name and renamed when the step succeeds), so a killed run continues where
# it stopped; delete a config's directory to redo it. The table is printed
# (and PREFIX.md written) from whatever rows are complete. Statistics:
# bench/train_compress_table.py (mean +- Student-t 95% half-interval over
# seeds; differences to plain paired by seed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
gp="${GOLFPACK_BUILD_DIR:-$root/build}/src/cli/golfpack"
[ -x "$gp" ] || { echo "train_compress: $gp not built (run scripts/setup)" >&2; exit 1; }

# ---- configurations --------------------------------------------------------
# QAT step: rd's ladder is s = 2^(k/2) / 256 x the row std (0.354, 0.5, 0.707,
# 1, 1.41, ...). On the demo model (`golfpack demo`, 160 steps) rd gave the
# block matrices 2.04 bits/param on average at 2.5 counted bits/param (steps
# 0.35..2.83, params-weighted median 1.41; the tied embedding and 60 KB of
# decoder code take the rest) and 3.0 bits/param at 3.5 (median 0.707). A
# single step for both budgets: 0.7071, a rung of the ladder, ~2.7 bits/param
# on the grid (between the two); QAT over the last 30% of the run.
QSTEP=0.7071
QAT_ARGS="--qat-step $QSTEP --qat-from 0.7"
# Rate penalty: laplace, measured at the QAT step (every config passes
# --rate-step $QSTEP, so the logged rate estimate is comparable across rows;
# with --rate-lambda 0 it changes nothing else). lambda from a quick check:
# 16 steps x 8192 tokens, warmup 1, warmdown 5, seed 1, on this data; the
# final rate estimate (bits/param at step 0.7071) and the trainer's quick
# val loss (first 32768 val tokens, nats):
#   lambda 0     rate 2.661  val 4.858
#   lambda 0.03  rate 2.511  val 4.894
#   lambda 0.1   rate 2.370  val 4.905   <- -0.29 b/p (-11%) for +0.05 nats (+1%)
#   lambda 0.3   rate 2.260  val 4.996
#   lambda 1     rate 2.309  val 5.154
RATE_LAMBDA=0.1
RATE_ARGS="--rate-lambda $RATE_LAMBDA --rate-kind laplace"
# Low-rank pressure: every K steps each Muon matrix's singular values are
# shrunk by lr x D x K x its RMS singular value; over 48 steps (mean lr
# ~0.03 with the warmdown) that adds up to ~1.4 x D RMS singular values.
# The quick check above with D 0.5, K 4 (~0.3 RMS singular values in all)
# cut the mean effective rank 183.6 -> 171.2 for +0.11 nats of quick val
# loss, so D 0.25 here: ~0.35 RMS singular values over 48 steps. K = 10 (the
# default; an SVD per matrix is slow on CPU), fewer for runs under 20 steps
# (--smoke) so that the thresholding runs at all. LOWRANK_ARGS is set below,
# once --steps is known.
LOWRANK_DECAY=0.25
SHARED_ARGS="--shared-depth 3 --layer-scales"
EXTRANORM_ARGS="--extra-norm"
# best: the three that act on what rd codes, together. QAT puts the weights
# on the grid rd codes (gap), the rate penalty makes that grid cheaper
# (bytes), and the weightless RMSNorm in front of attn.proj / mlp.proj
# bounds those layers' inputs (the hope: tamer outliers in H, so rd's
# proxy and GPTQ do better at few bits). Low-rank pressure and shared depth change the model, not the
# coding, and are left out. --best "ARGS" replaces it.
BEST_ARGS="$QAT_ARGS $RATE_ARGS --extra-norm"

# ---- options ---------------------------------------------------------------
work="" seeds="1,2,3" steps=48 batch=8192 seq=256 configs="plain,qat,rate,lowrank,shared,extranorm,best"
evtok=0 pack_args="" pack_args_set=0 out="" threads="" finetune=1 smoke=0
ft_frac=0.1 ft_batch=2048 ft_lr_scale=0.25 calib_tokens=65536 sens_tokens=8192
steps_set=0 seeds_set=0 evtok_set=0
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --seeds) seeds="$2"; seeds_set=1; shift 2 ;;
    --steps) steps="$2"; steps_set=1; shift 2 ;;
    --batch-tokens) batch="$2"; shift 2 ;;
    --configs) configs="$2"; shift 2 ;;
    --best) BEST_ARGS="$2"; shift 2 ;;
    --eval-tokens) evtok="$2"; evtok_set=1; shift 2 ;;
    --pack-args) pack_args="$2"; pack_args_set=1; shift 2 ;;
    --ft-frac) ft_frac="$2"; shift 2 ;;
    --ft-batch) ft_batch="$2"; shift 2 ;;
    --ft-lr-scale) ft_lr_scale="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --no-finetune) finetune=0; shift ;;
    --smoke) smoke=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "train_compress: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done
if [ "$smoke" = 1 ]; then
  [ "$seeds_set" = 1 ] || seeds=1
  [ "$steps_set" = 1 ] || steps=4
  [ "$evtok_set" = 1 ] || evtok=4096
  [ "$pack_args_set" = 1 ] || pack_args="--paths grid"
  calib_tokens=4096 sens_tokens=1024
  work="${work:-/tmp/golfpack-train-compress-smoke}"
fi
work="${work:-/tmp/golfpack-train-compress}"
out="${out:-$work/train_compress}"
mkdir -p "$work" "$(dirname "$out")"
IFS=, read -r -a seed_list <<<"$seeds"
IFS=, read -r -a config_list <<<"$configs"
for c in "${config_list[@]}"; do
  case "$c" in plain|qat|rate|lowrank|shared|extranorm|best) ;; *) echo "train_compress: unknown config $c" >&2; exit 2 ;; esac
done
# plain first: it sets the budgets.
config_list=(plain $(printf "%s\n" "${config_list[@]}" | awk '$0 != "plain" && !seen[$0]++'))
config_args() {
  case "$1" in
    plain) echo "" ;;
    qat) echo "$QAT_ARGS" ;;
    rate) echo "$RATE_ARGS" ;;
    lowrank) echo "$LOWRANK_ARGS" ;;
    shared) echo "$SHARED_ARGS" ;;
    extranorm) echo "$EXTRANORM_ARGS" ;;
    best) echo "$BEST_ARGS" ;;
  esac
}
rank_every=$(( steps >= 20 ? 10 : (steps / 2 > 1 ? steps / 2 : 1) ))
LOWRANK_ARGS="--muon-rank-decay $LOWRANK_DECAY --muon-rank-every $rank_every"
# Schedule as the demo's 10 warmup / 50 warmdown steps of 160, scaled.
warmup=$(( steps / 16 > 1 ? steps / 16 : 1 ))
warmdown=$(( steps * 5 / 16 > 1 ? steps * 5 / 16 : 1 ))
ft_steps=$(python3 -c "import math; print(max(1, math.floor($ft_frac * $steps * $batch / $ft_batch + 1e-9)))")
ft_lr() { python3 -c "print(f'{$1 * $ft_lr_scale:g}')"; }
FT_QAT_ARGS="--qat-step $QSTEP --qat-from 0 $RATE_ARGS"
gpg=(); [ -n "$threads" ] && gpg=(--threads "$threads")
data="$work/data"
t_start=$(date +%s.%N)

# ---- helpers ---------------------------------------------------------------
hms() { python3 -c "s=int(float('$1')); print(f'{s//3600}h{s%3600//60:02d}m{s%60:02d}s' if s >= 3600 else f'{s//60}m{s%60:02d}s')"; }
note() { echo "[$(hms "$(python3 -c "import time; print(time.time() - $t_start)")")] $*" >&2; }
# step LABEL OUTPUT... -- COMMAND...: runs COMMAND unless every OUTPUT exists;
# its stdout+stderr go to the first OUTPUT's .log; the wall time to its .time.
step() {
  local label="$1"; shift
  local outs=() done=1
  while [ "$1" != "--" ]; do outs+=("$1"); shift; done; shift
  for o in "${outs[@]}"; do [ -e "$o" ] || done=0; done
  if [ "$done" = 1 ]; then note "$label: done before, skipped"; return 0; fi
  local log="${outs[0]}.log" t0 t1
  t0=$(date +%s.%N)
  if ! "$@" >"$log" 2>&1; then
    echo "train_compress: $label failed: $*" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.1f}')" >"${outs[0]}.time"
  note "$label: $(cat "${outs[0]}.time") s"
}
# Commands that write their result to a temporary name, renamed on success.
train_to() {  # OUT LOG BATCH_TOKENS ARGS...
  local o="$1" log="$2" tb="$3"; shift 3
  "$gp" "${gpg[@]}" -q train --data "$data" --seq-len "$seq" --batch-tokens "$tb" --val-tokens 32768 \
    --rate-step "$QSTEP" -o "$o.tmp.safetensors" --log "$log.tmp" "$@" && mv "$log.tmp" "$log" && mv "$o.tmp.safetensors" "$o"
}
eval_to() {  # OUT MODEL
  "$gp" "${gpg[@]}" -q eval "$2" --data "$data" --seq-len "$seq" --max-tokens "$evtok" --json >"$1.tmp" && mv "$1.tmp" "$1"
}
calib_to() {  # OUT MODEL
  "$gp" "${gpg[@]}" -q calibrate "$2" --data "$data" --seq-len "$seq" --tokens "$calib_tokens" \
    --sensitivity-tokens "$sens_tokens" -o "$1.tmp.safetensors" && mv "$1.tmp.safetensors" "$1"
}
pack_to() {  # GPK MODEL CALIB BUDGET: pack's stdout -> GPK.txt
  local extra=(); read -r -a extra <<<"$pack_args"
  "$gp" "${gpg[@]}" -q pack "$2" -r rd --calib "$3" --budget "$4" -o "$1.tmp.gpk" "${extra[@]}" >"$1.txt.tmp" &&
    mv "$1.tmp.gpk" "$1" && mv "$1.txt.tmp" "$1.txt"
}
budget_of() { python3 -c "import math; print(math.floor($1 * $2 / 8 + 0.5))"; }  # BITS PARAMS: llround as cmd_demo
params_of() { python3 -c "
import json, sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get('event') == 'start': print(j['params']); break" "$1"; }

# Pack at BUDGET25/BUDGET35 (and own-param budgets when OWN=1), score each.
pack_and_score() {  # DIR LABEL OWN
  local d="$1" label="$2" own="$3" b
  step "$label: calibrate" "$d/calib.safetensors" -- calib_to "$d/calib.safetensors" "$d/model.safetensors"
  local -a names=(25 35) budgets=("$budget25" "$budget35")
  if [ "$own" = 1 ]; then
    local p; p=$(params_of "$d/train.jsonl")
    names+=(own25 own35); budgets+=("$(budget_of 2.5 "$p")" "$(budget_of 3.5 "$p")")
  fi
  for i in "${!names[@]}"; do
    b="${budgets[$i]}"
    step "$label: pack rd @ $b (${names[$i]})" "$d/rd${names[$i]}.gpk" "$d/rd${names[$i]}.gpk.txt" -- \
      pack_to "$d/rd${names[$i]}.gpk" "$d/model.safetensors" "$d/calib.safetensors" "$b"
    step "$label: post eval rd${names[$i]}" "$d/post${names[$i]}.json" -- eval_to "$d/post${names[$i]}.json" "$d/rd${names[$i]}.gpk"
  done
}

# A resumed run reuses outputs of whatever binary made them: warn when it changed.
gp_id="$(sha256sum "$gp" | cut -c1-16)"
if ! compgen -G "$work/s*/" >/dev/null || [ ! -f "$work/golfpack.id" ]; then
  echo "$gp_id" >"$work/golfpack.id"
elif [ "$(cat "$work/golfpack.id")" != "$gp_id" ]; then
  note "warning: $gp is not the binary that made this work dir's outputs (sha256 $(cat "$work/golfpack.id")" \
       "-> $gp_id); steps done before are kept: delete $work/s* to redo them with this binary"
fi

# ---- 1. data (as `golfpack demo`: the embedded corpus, default tokenizer) ----
if [ -f "$data/tokenizer.model" ] && compgen -G "$data/fineweb_train_*.bin" >/dev/null &&
   compgen -G "$data/fineweb_val_*.bin" >/dev/null; then
  note "data: reusing $data"
else
  step "data" "$work/data.done" -- bash -c '"$1" -q data -o "$2" && touch "$3"' _ "$gp" "$data" "$work/data.done"
fi
note "train_compress: seeds ${seed_list[*]}, configs ${config_list[*]}, $steps steps x $batch tokens (seq $seq," \
     "warmup $warmup, warmdown $warmdown); finetune $ft_steps steps x $ft_batch tokens; eval tokens $evtok" \
     "(0 = all); calibration $calib_tokens/$sens_tokens tokens; rd ${pack_args:-(default paths: grid, rowalloc)}"

# ---- 2./3. train, score, calibrate, pack, score ------------------------------
# Config-major (every seed of plain, then every seed of the next config, ...):
# a run stopped early leaves complete seed sets for the configs it reached.
run_config() {  # seed config
  local seed="$1" c="$2" d label
  d="$work/s$seed/$c"; mkdir -p "$d"; label="seed $seed $c"
  read -r -a args <<<"$(config_args "$c")"
  step "$label: train ($steps steps)" "$d/model.safetensors" "$d/train.jsonl" -- \
    train_to "$d/model.safetensors" "$d/train.jsonl" "$batch" --seed "$seed" --iterations "$steps" \
    --warmup "$warmup" --warmdown "$warmdown" "${args[@]}"
  step "$label: pre eval" "$d/pre.json" -- eval_to "$d/pre.json" "$d/model.safetensors"
  if [ "$c" = plain ]; then
    params=$(params_of "$d/train.jsonl")
    budget25=$(budget_of 2.5 "$params") budget35=$(budget_of 3.5 "$params")
    note "$label: $params params: budgets $budget25 (2.5 bits/param), $budget35 (3.5) counted bytes"
  fi
  pack_and_score "$d" "$label" "$([ "$c" = shared ] && echo 1 || echo 0)"
}
run_finetune() {  # seed finetune-qat|finetune-control
  local seed="$1" c="$2" d label
  d="$work/s$seed/$c"; mkdir -p "$d"; label="seed $seed $c"
  args=(); [ "$c" = finetune-qat ] && read -r -a args <<<"$FT_QAT_ARGS"
  step "$label: finetune plain ($ft_steps steps x $ft_batch)" "$d/model.safetensors" "$d/train.jsonl" -- \
    train_to "$d/model.safetensors" "$d/train.jsonl" "$ft_batch" \
    --init "$work/s$seed/plain/model.safetensors" --iterations "$ft_steps" --warmup 0 --warmdown "$ft_steps" \
    --matrix-lr "$(ft_lr 0.04)" --scalar-lr "$(ft_lr 0.04)" --embed-lr "$(ft_lr 0.05)" "${args[@]}"
  step "$label: pre eval" "$d/pre.json" -- eval_to "$d/pre.json" "$d/model.safetensors"
  pack_and_score "$d" "$label" 0
}
# The budgets come from plain's params (the same for every seed).
for seed in "${seed_list[@]}"; do run_config "$seed" plain; done
for c in "${config_list[@]}"; do
  [ "$c" = plain ] && continue
  for seed in "${seed_list[@]}"; do run_config "$seed" "$c"; done
done
if [ "$finetune" = 1 ]; then
  for c in finetune-qat finetune-control; do
    for seed in "${seed_list[@]}"; do run_finetune "$seed" "$c"; done
  done
fi

# ---- 4. raw rows + table --------------------------------------------------------
rows=()
for c in "${config_list[@]}"; do rows+=("$c"); done
[ "$finetune" = 1 ] && rows+=(finetune-qat finetune-control)
describe() {
  case "$1" in
    finetune-qat) echo "plain + $ft_steps steps x $ft_batch tokens (--init, LR x $ft_lr_scale): $FT_QAT_ARGS" ;;
    finetune-control) echo "plain + $ft_steps steps x $ft_batch tokens (--init, LR x $ft_lr_scale), no QAT/rate" ;;
    *) a="$(config_args "$1")"; echo "${a:-(none)}" ;;
  esac
}
desc=()
for r in "${rows[@]}"; do desc+=(--describe "$r=$(describe "$r")"); done
evdesc="the first $evtok val tokens"; [ "$evtok" = 0 ] && evdesc="the whole val split"
python3 "$root/bench/train_compress_table.py" --work "$work" --out "$out" --seeds "$seeds" \
  --configs "$(IFS=,; echo "${rows[*]}")" "${desc[@]}" \
  --setup "demo shape, $steps steps x $batch tokens (seq $seq), seeds $seeds; val_bpb on $evdesc (seq $seq); calibration $calib_tokens tokens (sensitivity $sens_tokens); rd ${pack_args:-(default paths: grid, rowalloc)}; budgets llround(bits x plain params / 8) counted bytes"
note "train_compress: done; $out.tsv, $out.md"
