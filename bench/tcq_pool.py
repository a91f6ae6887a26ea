#!/usr/bin/env python3
"""Pools trellis-probe sensitivities per kind of weight.

    bench/tcq_pool.py GRID_CALIB TCQ_CALIB OUT

OUT is TCQ_CALIB (a `golfpack calibrate --probe gptq:tcq:...` file) with every
weight's sensitivity replaced by s(w) * R(kind), s from GRID_CALIB and
R(kind) = sum of the trellis sensitivities over the weights of that kind
(its name without `blocks.N.`) / the sum of their grid sensitivities: one
ratio per kind, pooled over the layers, instead of one noisy fit per weight.
`golfpack pack -r rd:all --calib GRID_CALIB --tcq-sensitivity OUT` then prices
the trellis candidates with it. Prints the ratios.
"""
import json
import os
import re
import struct
import sys


def read(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    grid, _ = read(sys.argv[1])
    tcq, data = read(sys.argv[2])
    key = 'golfpack.sensitivity.'
    sg = {k[len(key):]: float(v) for k, v in grid['__metadata__'].items() if k.startswith(key)}
    st = {k[len(key):]: float(v) for k, v in tcq['__metadata__'].items() if k.startswith(key)}
    if not sg or set(sg) != set(st):
        sys.exit(f'{sys.argv[1]} and {sys.argv[2]}: the two files do not fit the same weights')
    kind = lambda n: re.sub(r'^blocks\.\d+\.', '', n)
    sums = {}
    for n in sg:
        a, b = sums.get(kind(n), (0.0, 0.0))
        sums[kind(n)] = (a + st[n], b + sg[n])
    for k, (a, b) in sorted(sums.items()):
        print(f'{k:24s} trellis / grid sensitivity, pooled: {a / b:.3f}')
    for n in sg:
        a, b = sums[kind(n)]
        tcq['__metadata__'][key + n] = '%.9g' % (sg[n] * a / b)
    h = json.dumps(tcq, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(sys.argv[3] + '.tmp', 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + data)
    os.replace(sys.argv[3] + '.tmp', sys.argv[3])


if __name__ == '__main__':
    main()
