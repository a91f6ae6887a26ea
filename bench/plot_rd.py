#!/usr/bin/env python3
"""Table, target checks and an SVG plot (bytes vs val_bpb) for bench/rd_vs_baselines.sh output.

usage: plot_rd.py RESULTS.jsonl OUT.svg LABEL   (standard library only)
"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
out_svg, label = sys.argv[2], sys.argv[3]
rows.sort(key=lambda r: (r["recipe"], r["counted_bytes"]))
print(f"{'recipe':18} {'budget':>10} {'counted':>10} {'bits/par':>9} {'pre_bpb':>9} {'post_bpb':>9} {'gap':>9} {'pack_s':>7}")
for r in rows:
    print(f"{r['recipe']:18} {r['budget']:>10} {r['counted_bytes']:>10} {r['bits_per_param']:>9.3f} "
          f"{r['pre_val_bpb']:>9.5f} {r['post_val_bpb']:>9.5f} {r['gap']:>+9.5f} {r['pack_seconds']:>7}")

rd = [r for r in rows if r["recipe"] == "rd"]
ok_all = True
for base in ("gptq-int6-brotli", "pg-int8-zlib"):
    b = next((r for r in rows if r["recipe"] == base), None)
    same = [r for r in rd if r["budget"] == b["counted_bytes"]] if b else []
    if not b or not same:
        continue
    r = same[0]
    below = r["post_val_bpb"] < b["post_val_bpb"]
    line = f"at {base}'s {b['counted_bytes']} bytes: rd gap {r['gap']:+.5f} vs {b['gap']:+.5f}"
    if base == "gptq-int6-brotli":
        half = r["gap"] <= 0.5 * b["gap"]
        ok_all &= half
        line += f" -> {'PASS' if half else 'FAIL'} (target: at most half)"
    ok_all &= below
    print(line + f"; rd below the baseline: {'PASS' if below else 'FAIL'}")
print(f"targets: {'PASS' if ok_all else 'FAIL'}")

# SVG: x = counted MB, y = post val_bpb.
W, H, L, R, T, B = 640, 420, 70, 20, 40, 50
xs = [r["counted_bytes"] / 1e6 for r in rows]
ys = [r["post_val_bpb"] for r in rows] + [rows[0]["pre_val_bpb"]]
x0, x1 = 0, max(xs) * 1.05
y0, y1 = min(ys) - 0.002, max(ys) + 0.002
sx = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)
sy = lambda y: T + (y1 - y) / (y1 - y0) * (H - T - B)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="20" text-anchor="middle" font-size="14">golfpack RD curve: {label}</text>',
       f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
       f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>',
       f'<text x="{W/2}" y="{H-12}" text-anchor="middle">counted bytes (MB, file + code)</text>',
       f'<text x="16" y="{H/2}" transform="rotate(-90 16 {H/2})" text-anchor="middle">post-roundtrip val_bpb</text>']
for i in range(6):
    xv = x0 + (x1 - x0) * i / 5
    yv = y0 + (y1 - y0) * i / 5
    svg.append(f'<text x="{sx(xv):.1f}" y="{H-B+16}" text-anchor="middle">{xv:.2f}</text>')
    svg.append(f'<text x="{L-6}" y="{sy(yv)+4:.1f}" text-anchor="end">{yv:.4f}</text>')
pre = rows[0]["pre_val_bpb"]
svg.append(f'<line x1="{L}" y1="{sy(pre):.1f}" x2="{W-R}" y2="{sy(pre):.1f}" stroke="gray" stroke-dasharray="4 3"/>')
svg.append(f'<text x="{W-R-4}" y="{sy(pre)-4:.1f}" text-anchor="end" fill="gray">unquantized {pre:.4f}</text>')
pts = " ".join(f"{sx(r['counted_bytes']/1e6):.1f},{sy(r['post_val_bpb']):.1f}" for r in sorted(rd, key=lambda r: r["counted_bytes"]))
svg.append(f'<polyline points="{pts}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
colors = {"rd": "#1f77b4", "pg-int8-zlib": "#d62728", "gptq-int6-brotli": "#2ca02c"}
for r in rows:
    svg.append(f'<circle cx="{sx(r["counted_bytes"]/1e6):.1f}" cy="{sy(r["post_val_bpb"]):.1f}" r="4" fill="{colors[r["recipe"]]}"/>')
for i, (name, c) in enumerate(colors.items()):
    svg.append(f'<circle cx="{W-R-150}" cy="{T+14+16*i}" r="4" fill="{c}"/><text x="{W-R-140}" y="{T+18+16*i}">{name}</text>')
svg.append("</svg>")
open(out_svg, "w").write("\n".join(svg))
print(f"plot: {out_svg}")
sys.exit(0 if ok_all else 1)
