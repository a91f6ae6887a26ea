#!/usr/bin/env python3
"""The estimators of bench/shared_basis.py and bench/vq_rd.py against values
known in closed form (issue 9's shared-basis and VQ measurements rest on them).

- layer_bound: two layers with correlation rho give -log2(1 - rho^2) / 4
  bits/param; uncorrelated layers give 0.
- mean_base_gain: for independent layers the mean base costs bits.
- align_mlp: a layer that is a row permutation of the previous one is put
  back in its order (bound then as large as for identical layers).
- column_gain: rows with a shared column covariance (a known rotation of
  unequal variances) gain the Gaussian transform-coding gain, from the other
  layers' basis.
- ecsq_curve / ecvq: on Gaussian data the uniform grid sits 0.25 to 0.35 bit
  from D(R) at 2 to 3 bits; ECVQ in one dimension does no worse.
Exit 77 (skip) without numpy.
"""
import math
import os
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import shared_basis as sb  # noqa: E402
import vq_rd  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


rng = np.random.default_rng(7)
n = 256
a = rng.standard_normal((n, n))
for rho in (0.0, 0.5, 0.9):
    b = rho * a + math.sqrt(1 - rho * rho) * rng.standard_normal((n, n))
    got, _ = sb.layer_bound([a, b])
    want = -math.log2(1 - rho * rho) / 4
    check(abs(got - want) < 0.01, f"layer_bound rho {rho}: {got:.4f}, want {want:.4f}")

ind = [rng.standard_normal((64, 64)) for _ in range(4)]
check(sb.mean_base_gain(ind, 2.5) < -0.3, f"mean base of independent layers: {sb.mean_base_gain(ind, 2.5):+.3f}")

fc0 = rng.standard_normal((32, 16))
proj0 = rng.standard_normal((16, 32))
perm = rng.permutation(32)
afc, aproj = sb.align_mlp([fc0, fc0[perm]], [proj0, proj0[:, perm]])
check(np.array_equal(afc[1], fc0) and np.array_equal(aproj[1], proj0), "align_mlp undoes a permutation")

# Shared column covariance: variances 4 and 1/4 on a random rotation of 64
# dimensions; the Gaussian transform-coding gain is (sum log2 S_jj - sum log2
# lambda) / (2 cols).
q = np.linalg.qr(rng.standard_normal((64, 64)))[0]
lam = np.array([4.0, 0.25] * 32)
cov_half = q @ np.diag(np.sqrt(lam))
layers = [rng.standard_normal((8000, 64)) @ cov_half.T for _ in range(3)]
diag = np.diag(q @ np.diag(lam) @ q.T)
want = (np.log2(diag).sum() - np.log2(lam).sum()) / 128
got = sb.column_gain(layers)
# column_gain normalises each row by its RMS first, which changes the
# covariance a little (64 columns: the RMS is nearly constant).
print(f"column_gain {got:.4f}, closed form {want:.4f}")
check(abs(got - want) < 0.05 * want + 0.01, f"column_gain {got:.4f}, want about {want:.4f}")

g = rng.standard_normal(1 << 17)
tr, te = g[: 1 << 16], g[1 << 16:]
curve = vq_rd.ecsq_curve(tr, te, np.exp(np.linspace(np.log(0.2), np.log(1.5), 30)))
for r in (2.0, 3.0):
    rate, mse, _ = min(curve, key=lambda p: abs(p[0] - r))
    gap = rate - 0.5 * math.log2(te.var() / mse)
    check(0.2 < gap < 0.4, f"ecsq gap to D(R) at {r}: {gap:.3f}")
lam = 2 * math.log(2) * 2.0 ** (-5) * 1.4
cb, lens = vq_rd.ecvq_fit(tr.reshape(-1, 1), 64, lam)
bits, err, _ = vq_rd.price(te.reshape(-1, 1), cb, lens, lam)
check(bits - 0.5 * math.log2(te.var() / err) < 0.35, f"ecvq-d1 gap {bits - 0.5 * math.log2(te.var() / err):.3f}")
check(abs(vq_rd.rate_at_mse(curve, curve[10][1]) - curve[10][0]) < 1e-9, "rate_at_mse at a curve point")

if failures:
    sys.exit(f"{len(failures)} failure(s)")
print("bench math: all checks passed")
