#!/usr/bin/env python3
"""Table of bench/train_compress.sh (issue 10): reads WORK/s<seed>/<config>/
(train.jsonl, pre.json, rd*.gpk.txt, post*.json, *.time), writes OUT.tsv (one
row per seed x config, every raw number; NA where a step has not run) and
OUT.md (the table), and prints the table.

Each cell is the mean over seeds +- the 95% half-interval t(0.975, n-1) s / sqrt(n)
(Student t; no interval for one seed); each difference to plain is paired by
seed (the mean of the per-seed differences, with its own interval). Only seeds
with the number for both rows enter a difference. No numpy needed.
"""
import argparse
import json
import math
import os
import re
import sys

# t(0.975, dof) for dof 1..30; 1.96 beyond.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]

COLUMNS = ["seed", "config", "params", "train_steps", "train_tokens", "train_loss", "quick_val_loss", "rate_bits",
           "eff_rank", "pre_val_loss", "pre_bpb", "eval_tokens",
           "budget25", "counted25", "post25", "budget35", "counted35", "post35",
           "own_budget25", "own_counted25", "own_post25", "own_budget35", "own_counted35", "own_post35",
           "train_s", "pre_eval_s", "calib_s", "pack_s", "post_eval_s"]


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_time(path):
    try:
        with open(path) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return None


def model_row(d):
    r = {}
    try:
        with open(os.path.join(d, "train.jsonl")) as f:
            for line in f:
                j = json.loads(line)
                ev = j.get("event")
                if ev == "start":
                    r["params"] = j.get("params")
                    r["train_batch"] = j.get("batch_tokens")
                elif ev == "end":
                    r["train_steps"] = j.get("steps")
                    r["train_loss"] = j.get("final_train_loss")
                    r["quick_val_loss"] = j.get("val_loss")
                    r["rate_bits"] = j.get("rate_bits")
                elif ev == "spectra":
                    r["eff_rank"] = j.get("mean_eff_rank")
        if r.get("train_steps") is not None and r.get("train_batch"):
            r["train_tokens"] = r["train_steps"] * r["train_batch"]
    except (OSError, ValueError):
        pass
    pre = read_json(os.path.join(d, "pre.json"))
    if pre:
        r["pre_bpb"], r["pre_val_loss"], r["eval_tokens"] = pre["val_bpb"], pre["val_loss"], pre["tokens"]
    pack_s = post_s = 0.0
    for name in ("25", "35", "own25", "own35"):
        col = (lambda c: c + name) if not name.startswith("own") else (lambda c: "own_" + c + name[3:])
        txt = os.path.join(d, "rd%s.gpk.txt" % name)
        try:
            with open(txt) as f:
                s = f.read()
            m = re.search(r"^counted\s+(\d+) bytes .* of budget (\d+)", s, re.M)
            if m:
                r[col("counted")], r[col("budget")] = int(m.group(1)), int(m.group(2))
        except OSError:
            pass
        post = read_json(os.path.join(d, "post%s.json" % name))
        if post:
            r[col("post")] = post["val_bpb"]
        pack_s += read_time(os.path.join(d, "rd%s.gpk.time" % name)) or 0.0
        post_s += read_time(os.path.join(d, "post%s.json.time" % name)) or 0.0
    r["train_s"] = read_time(os.path.join(d, "model.safetensors.time"))
    r["pre_eval_s"] = read_time(os.path.join(d, "pre.json.time"))
    r["calib_s"] = read_time(os.path.join(d, "calib.safetensors.time"))
    r["pack_s"] = pack_s or None
    r["post_eval_s"] = post_s or None
    return r


def mean_ci(xs):
    n = len(xs)
    if n == 0:
        return None, None, 0
    m = sum(xs) / n
    if n == 1:
        return m, None, 1
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    t = T975[n - 2] if n - 1 <= len(T975) else 1.96
    return m, t * sd / math.sqrt(n), n


def fmt(m, h, signed=False, digits=4):
    if m is None:
        return "-"
    s = ("%+.*f" if signed else "%.*f") % (digits, m)
    return s if h is None else s + " ± %.*f" % (digits, h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--configs", required=True)
    ap.add_argument("--setup", default="")
    ap.add_argument("--describe", action="append", default=[])
    a = ap.parse_args()
    seeds = [s for s in a.seeds.split(",") if s]
    configs = [c for c in a.configs.split(",") if c]
    desc = dict(x.split("=", 1) for x in a.describe)

    data = {}  # (seed, config) -> row
    with open(a.out + ".tsv", "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for s in seeds:
            for c in configs:
                d = os.path.join(a.work, "s" + s, c)
                if not os.path.isdir(d):
                    continue
                r = model_row(d)
                r["seed"], r["config"] = s, c
                data[(s, c)] = r
                f.write("\t".join("NA" if r.get(k) is None else
                                  ("%.6f" % r[k] if isinstance(r[k], float) else str(r[k])) for k in COLUMNS) + "\n")

    def vals(c, key):
        return {s: data[(s, c)][key] for s in seeds if (s, c) in data and data[(s, c)].get(key) is not None}

    def cell(c, key):
        return fmt(*mean_ci(list(vals(c, key).values()))[:2])

    def diff(c, key, base="plain", base_key=None):
        v, b = vals(c, key), vals(base, base_key or key)
        ds = [v[s] - b[s] for s in seeds if s in v and s in b]
        return fmt(*mean_ci(ds)[:2], signed=True)

    def plain_budget(key):
        b = set(vals("plain", key).values())
        return "%d B" % b.pop() if len(b) == 1 else "plain's bytes"

    lines = []
    nseeds = len({s for (s, _) in data})
    lines.append("Training for compressibility (issue 10): %s." % a.setup)
    lines.append("Mean over %d seed%s ± 95%% half-interval (Student t, n-1 dof); Δ = minus plain, paired by seed. "
                 "post@B: val_bpb after the round trip of rd packed at the plain model's counted bytes for B bits/param; "
                 "rate: the trainer's laplace estimate of the coded bits/param of the matrices at the QAT step; "
                 "erank: mean effective rank of the Muon matrices." % (nseeds, "" if nseeds == 1 else "s"))
    lines.append("")
    head = ["config", "params", "rate b/p", "erank", "pre val_bpb", "Δ pre",
            "post@2.5 (%s)" % plain_budget("budget25"), "Δ post@2.5",
            "post@3.5 (%s)" % plain_budget("budget35"), "Δ post@3.5"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
    for c in configs:
        if not any((s, c) in data for s in seeds):
            continue
        p = sorted(set(vals(c, "params").values()))
        row = [c, "/".join(str(x) for x in p) or "-", fmt(*mean_ci(list(vals(c, "rate_bits").values()))[:2], digits=3),
               fmt(*mean_ci(list(vals(c, "eff_rank").values()))[:2], digits=1),
               cell(c, "pre_bpb"), diff(c, "pre_bpb") if c != "plain" else "",
               cell(c, "post25"), diff(c, "post25") if c != "plain" else "",
               cell(c, "post35"), diff(c, "post35") if c != "plain" else ""]
        lines.append("| " + " | ".join(row) + " |")
        if vals(c, "own_post25") or vals(c, "own_post35"):
            ob25 = sorted(set(vals(c, "own_budget25").values()))
            ob35 = sorted(set(vals(c, "own_budget35").values()))
            row = ["%s@own-bits (%s / %s B)" % (c, "/".join(map(str, ob25)) or "-", "/".join(map(str, ob35)) or "-"),
                   "", "", "", "", "",
                   cell(c, "own_post25"), diff(c, "own_post25", base_key="post25"),
                   cell(c, "own_post35"), diff(c, "own_post35", base_key="post35")]
            lines.append("| " + " | ".join(row) + " |")
    if vals("finetune-qat", "pre_bpb") and vals("finetune-control", "pre_bpb"):
        lines.append("")
        lines.append("finetune-qat minus finetune-control (paired by seed; the QAT effect net of the extra tokens): "
                     "pre %s, post@2.5 %s, post@3.5 %s" % tuple(
                         diff("finetune-qat", k, base="finetune-control") for k in ("pre_bpb", "post25", "post35")))
    if any(k[1].startswith("shared") for k in data):
        lines.append("")
        lines.append("`shared@own-bits`: shared packed at 2.5/3.5 bits of its own params (fewer bytes); "
                     "its Δ is against plain at plain's bytes.")
    lines.append("")
    lines.append("Configurations (train flags on top of the common ones):")
    lines.append("")
    for c in configs:
        if c in desc:
            lines.append("- `%s`: %s" % (c, desc[c]))
    t = {k: mean_ci([r[k] for r in data.values() if r.get(k) is not None and not r["config"].startswith("finetune")])[0]
         for k in ("train_s", "pre_eval_s", "calib_s", "pack_s", "post_eval_s")}
    if t["train_s"] is not None:
        lines.append("")
        lines.append("Mean wall time per trained model: train %s s, pre eval %s s, calibrate %s s, "
                     "packs %s s, post evals %s s." % tuple(
                         "-" if t[k] is None else "%.0f" % t[k]
                         for k in ("train_s", "pre_eval_s", "calib_s", "pack_s", "post_eval_s")))
    text = "\n".join(lines) + "\n"
    with open(a.out + ".md", "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
