#!/usr/bin/env python3
"""Bytes at equal predicted loss, per rd path (issue 9, "per path, against scalar rd").

rd with scalar grids only (`--paths grid`) is packed at BUDGET; its predicted
loss increase L0 (the Hessian proxy rd allocates with) is the target. For
each path P, rd with `--paths grid,P` is packed at the budgets that bracket
L0 and the budget is searched (secant steps, then bisection, on counted
bytes) until its predicted loss is within --tol of L0. The table gives, per
path, the counted bytes needed for the same predicted loss and their ratio
to grid-only's: below 1 means the path buys bytes.

    bench/equal_loss.py MODEL CALIB BUDGET [--paths lqer,sparse,...] [--tol 0.002] [--out PREFIX]

Environment: GOLFPACK_BUILD_DIR (default build/) picks the binary.
Writes PREFIX.tsv (default /tmp/golfpack-equal-loss) and prints the table.
"""
import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GP = os.path.join(os.environ.get("GOLFPACK_BUILD_DIR", os.path.join(ROOT, "build")), "src", "cli", "golfpack")


def pack(model, calib, budget, paths, out):
    """(counted bytes, predicted loss increase) of rd --paths PATHS at BUDGET."""
    r = subprocess.run([GP, "-q", "pack", model, "-r", "rd", "--calib", calib, "--budget", str(int(budget)),
                        "--paths", paths, "-o", out], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"equal_loss: rd --paths {paths} --budget {budget}: {r.stderr.strip()}")
    counted = int(re.search(r"^counted\s+([\d,]+)", r.stdout, re.M).group(1).replace(",", ""))
    loss = float(re.search(r"^predicted loss increase ([0-9.eE+-]+)", r.stdout, re.M).group(1))
    return counted, loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("calib")
    ap.add_argument("budget", type=int)
    ap.add_argument("--paths", default="lqer,sparse,blocks,columns,rows,rowstep,rowalloc,all")
    ap.add_argument("--tol", type=float, default=0.002, help="relative tolerance on the predicted loss")
    ap.add_argument("--out", default="/tmp/golfpack-equal-loss")
    a = ap.parse_args()
    tmp = a.out + ".gpk"
    t0 = time.time()
    base_bytes, target = pack(a.model, a.calib, a.budget, "grid", tmp)
    rows = [("grid", base_bytes, target, 1.0, 1)]
    print(f"grid: {base_bytes} bytes, predicted loss {target:.6g} (target)", file=sys.stderr)
    for p in a.paths.split(","):
        paths = "all" if p == "all" else "grid," + p
        # Bracket: at the same budget the path's loss is <= target (it only adds options).
        hi_b, hi_l = pack(a.model, a.calib, a.budget, paths, tmp)
        runs = 1
        if hi_l > target * (1 + a.tol):
            print(f"{p}: worse than grid at the same bytes ({hi_l:.6g}); skipped", file=sys.stderr)
            rows.append((p, hi_b, hi_l, hi_b / base_bytes, runs))
            continue
        lo = None  # (bytes, loss) with loss > target
        hi = (hi_b, hi_l)  # (bytes, loss) with loss <= target

        def probe(budget):
            nonlocal lo, hi, runs
            got = pack(a.model, a.calib, budget, paths, tmp)
            runs += 1
            if got[1] > target:
                lo = got
            else:
                hi = got

        b = a.budget
        while lo is None:  # step down until the loss exceeds the target
            b = int(b * 0.9)
            probe(b)
        for _ in range(12):
            best = min([hi, lo], key=lambda x: abs(x[1] - target))
            if abs(best[1] - target) <= a.tol * target:
                break
            # secant on (bytes, loss), kept inside the bracket
            t = (lo[1] - target) / (lo[1] - hi[1]) if lo[1] != hi[1] else 0.5
            b = int(lo[0] + min(max(t, 0.1), 0.9) * (hi[0] - lo[0]))
            if b <= lo[0] or b >= hi[0]:
                break
            probe(b)
        best = min([hi, lo], key=lambda x: abs(x[1] - target))
        rows.append((p, best[0], best[1], best[0] / base_bytes, runs))
        print(f"{p}: {best[0]} bytes ({best[0] / base_bytes:.4f}x), loss {best[1]:.6g}, {runs} packs", file=sys.stderr)
    with open(a.out + ".tsv", "w") as f:
        f.write("path\tcounted_bytes\tpredicted_loss\tbytes_vs_grid\tpacks\n")
        for r in rows:
            f.write(f"{r[0]}\t{r[1]}\t{r[2]:.6g}\t{r[3]:.4f}\t{r[4]}\n")
        f.write(f"# {os.path.basename(a.model)}: rd --paths grid at --budget {a.budget} gives the target predicted "
                f"loss; each path's bytes at that loss (tolerance {a.tol}); {time.time() - t0:.0f} s\n")
    print(open(a.out + ".tsv").read(), end="")


if __name__ == "__main__":
    main()
