#!/usr/bin/env python3
"""SVG plot of docs/results/gaussian_rd.tsv: each quantizer's rate gap to D(R).

usage: plot_gaussian_rd.py [gaussian_rd.tsv] [OUT.svg]   (standard library only)

x: bits/sample spent; y: how many bits/sample more than R(D) =
log2(sigma^2 / mse) / 2 the quantizer spends for its mse (the tsv's
rate_gap_bits).
The issue's 0.1-bit target is drawn as a dashed line.
"""
import csv
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "docs/results/gaussian_rd.tsv"
out = sys.argv[2] if len(sys.argv) > 2 else "docs/results/gaussian_rd.svg"

series = {}
with open(src) as f:
    for row in csv.DictReader(f, delimiter="\t"):
        series.setdefault(row["method"], []).append(
            (float(row["bits_per_sample"]), float(row["rate_gap_bits"])))

style = {  # method: (label, colour, dashed)
    "ecsq": ("entropy-coded scalar grid (ans_grid)", "#d62728", False),
    "ecsq-H0": ("same codes at their order-0 entropy", "#ff9896", True),
    "trellis-s3": ("trellis grid, 8 states (rd's tcq path)", "#1f77b4", False),
    "trellis-s8": ("trellis grid, 256 states", "#17becf", False),
    "ectcq-s3": ("ECTCQ, 8 states (reference)", "#9edae5", True),
    "ectcq-s8": ("ECTCQ, 256 states (reference)", "#aec7e8", True),
    "bitshift-L12": ("bitshift trellis, L 12 (fixed rate)", "#2ca02c", False),
    "bitshift-L16": ("bitshift trellis, L 16 (fixed rate)", "#98df8a", False),
}

W, H, L, R, T, B = 840, 440, 70, 300, 40, 55
x0, x1 = 1.75, 4.25
y0, y1 = 0.0, 0.40


def px(x):
    return L + (x - x0) / (x1 - x0) * (W - L - R)


def py(y):
    return T + (1 - (y - y0) / (y1 - y0)) * (H - T - B)


parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="22" font-size="14">i.i.d. Gaussian: bits/sample above the bound D(R) = σ²·2^(−2R)</text>']
for i in range(9):  # y grid every 0.05 bit
    y = y0 + i * 0.05
    parts.append(f'<line x1="{L}" x2="{W - R}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#eee"/>')
    parts.append(f'<text x="{L - 8}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
for i in range(5):  # x ticks at 2, 2.5, ..., 4
    x = 2 + 0.5 * i
    parts.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{T}" y2="{H - B}" stroke="#eee"/>')
    parts.append(f'<text x="{px(x):.1f}" y="{H - B + 18}" text-anchor="middle">{x:g}</text>')
parts.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#888"/>')
parts.append(f'<text x="{(L + W - R) / 2:.1f}" y="{H - 12}" text-anchor="middle">bits/sample spent</text>')
parts.append(f'<text transform="translate(18,{(T + H - B) / 2:.1f}) rotate(-90)" text-anchor="middle">'
             'rate gap to D(R), bits/sample</text>')
parts.append(f'<line x1="{L}" x2="{W - R}" y1="{py(0.1):.1f}" y2="{py(0.1):.1f}" stroke="#555" '
             'stroke-dasharray="6,4"/>')
parts.append(f'<text x="{W - R - 4}" y="{py(0.1) - 5:.1f}" text-anchor="end" fill="#555">target: 0.1 bit</text>')

ly = T + 8
for method, (label, colour, dashed) in style.items():
    pts = sorted(series.get(method, []))
    if not pts:
        continue
    dash = ' stroke-dasharray="4,3"' if dashed else ""
    path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
    parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
    for x, y in pts:
        parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
    parts.append(f'<line x1="{W - R + 12}" x2="{W - R + 36}" y1="{ly}" y2="{ly}" stroke="{colour}" '
                 f'stroke-width="2"{dash}/>')
    parts.append(f'<text x="{W - R + 42}" y="{ly + 4}" font-size="11">{label}</text>')
    ly += 20
parts.append("</svg>")
with open(out, "w") as f:
    f.write("\n".join(parts) + "\n")
print(f"wrote {out}: {sum(len(v) for v in series.values())} points, {len(series)} methods")
