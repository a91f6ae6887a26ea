#!/usr/bin/python3
"""python/golfpack_decode.py against golfpack's C++ decoder (`golfpack unpack --f32`).

Usage: decode_test.py <golfpack binary> [--sfx golfpack_decode.sfx.py]

Builds artifacts with the CLI (pg-int8-zlib, and rd over a hand-written
calibration file for ans_grid order-0 / context streams, lowrank and uniform),
takes tests/gpk/golden_v2.gpk (codebook, shared object) and golden_v3.gpk
(byte-shuffled sections), and rewrites their payloads with a small writer here
(xz / zlib / none sections, versions 1 to 3 with byte-shuffle strides 2 to 15,
hand-made tensors for every encoding and edge shape). Every artifact must
decode bit-exactly like the C++ decoder. Damaged copies (a flipped byte, a
truncated file, mutations with the checksums recomputed, and hand-made
payload errors) must raise ValueError in Python exactly when the C++ decoder
rejects them. Encoding 10 (patch): hand-made tensors of every unit over several
inner encodings, FORMAT.md's worked example, and each malformed case the spec
lists. With --sfx, only the self-extracting form is checked instead (see
sfx_checks). Exit 0 = pass, 1 = fail, 77 = skipped (no numpy).
"""
import importlib.util
import json
import lzma
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

try:
    import numpy as np
except ImportError:
    print('SKIP: this python3 has no numpy (apt install python3-numpy)')
    sys.exit(77)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'python'))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import golfpack_decode as gd  # noqa: E402

GP = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / 'build/src/cli/golfpack')
SFX = sys.argv[sys.argv.index('--sfx') + 1] if '--sfx' in sys.argv else None  # sfx mode: see sfx_checks
WORK = Path(tempfile.mkdtemp(prefix='gpk-pytest-'))
FAILS, PASSES, AGREED = [], [0], {'rejected': 0, 'accepted': 0}
SEEN = {'enc': set(), 'model': set(), 'codec': set(), 'version': set(), 'scale_dtype': set(), 'shuffle': set()}


def check(cond, what):
    if cond:
        PASSES[0] += 1
    else:
        FAILS.append(what)
        print('FAIL', what)


def optional(module):
    try:
        return __import__(module)
    except ImportError:
        return None


# ---------------------------------------------------------------- safetensors by hand

def write_safetensors(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    if meta:
        header['__metadata__'] = meta
    for name, (a, dtype) in tensors.items():
        a = np.ascontiguousarray(a, np.float32)
        if dtype == 'F32':
            b = a.astype('<f4').tobytes()
        elif dtype == 'F16':
            b = a.astype('<f2').tobytes()
        else:  # BF16, round to nearest even
            u = a.view(np.uint32).astype(np.uint64)
            b = ((u + 0x7fff + (u >> 16 & 1)) >> 16).astype('<u2').tobytes()
        header[name] = {'dtype': dtype, 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    Path(path).write_bytes(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def read_safetensors_f32(path):
    b = Path(path).read_bytes()
    n = struct.unpack('<Q', b[:8])[0]
    out = {}
    for name, v in json.loads(b[8:8 + n]).items():
        if name == '__metadata__':
            continue
        assert v['dtype'] == 'F32', v
        s, e = v['data_offsets']
        out[name] = np.frombuffer(b[8 + n + s:8 + n + e], '<f4').reshape(v['shape'])
    return out


# ---------------------------------------------------------------- a .gpk writer (FORMAT.md)

def varint(v):
    out = bytearray()
    while True:
        out.append(v & 127 | (128 if v > 127 else 0))
        v >>= 7
        if not v:
            return bytes(out)


def string(s):
    b = s.encode()
    return varint(len(b)) + b


def shuffle(raw, k):
    """FORMAT.md version 3's byte shuffle: raw[0::k] + raw[1::k] + ... + raw[k-1::k] (k 0: none)."""
    return b''.join(raw[p::k] for p in range(k)) if k else raw


def compress(codec, raw):
    if codec == 0 or codec > 4:  # none, or an unknown back-end (stored as is, for rejection cases)
        return raw
    if codec == 1:
        return zlib.compress(raw, 9)
    if codec == 3:
        return lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    if codec == 2:
        return optional('zstandard').ZstdCompressor(level=19).compress(raw)
    return optional('brotli').compress(raw, quality=11)


def build(tensors, objects=(), codecs=(0,), meta=None, version=None, shuffles=None):
    """tensors: dicts name, shape, dtype, enc, params, payload, refs, sec; objects: name, kind, payload, sec.
    shuffles: a byte-shuffle stride per section (default none); the codec byte is codec | stride << 4."""
    shuffles = shuffles or (0,) * len(codecs)
    version = version or (3 if any(shuffles) else 2 if objects else 1)
    raws = [b''] * len(codecs)
    m = bytearray()
    meta = meta or {}
    m += varint(len(meta))
    for k, v in meta.items():
        m += string(k) + string(v)
    entries = []
    for e in list(objects) + list(tensors):
        s = e.get('sec', 0)
        entries.append((s, len(raws[s]), len(e['payload'])))
        raws[s] += e['payload']
    stored = [compress(c, shuffle(r, k)) for c, r, k in zip(codecs, raws, shuffles)]
    m += varint(len(codecs))
    for c, r, st, k in zip(codecs, raws, stored, shuffles):
        m += bytes([c | k << 4]) + varint(len(st)) + varint(len(r)) + gd.crc32c(st).to_bytes(4, 'little')
    pos = iter(entries)

    def where(e):
        s, off, n = next(pos)
        return varint(s) + varint(off) + varint(n) + varint(len(e.get('params', b''))) + e.get('params', b'')
    if version >= 2:
        m += varint(len(objects))
        for o in objects:
            m += string(o['name']) + varint(o.get('kind', 0)) + where(o)
    m += varint(len(tensors))
    for t in tensors:
        m += string(t['name']) + bytes([len(t['shape'])]) + b''.join(varint(d) for d in t['shape'])
        m += bytes([t.get('dtype', 0)]) + varint(t['enc']) + where(t)
        if version >= 2:
            m += varint(len(t.get('refs', []))) + b''.join(varint(r) for r in t.get('refs', []))
    head = b'GOLFPACK' + version.to_bytes(2, 'little') + b'\0\0' + len(m).to_bytes(4, 'little') + bytes(m)
    body = head + gd.crc32c(head).to_bytes(4, 'little') + b''.join(stored)
    return body + gd.xxh64(body).to_bytes(8, 'little') + b'GPKE'


def pieces(buf):
    """An artifact's tensors and objects as build() takes them (section 0 for all)."""
    version, meta, secs, objs, ts = gd.read(memoryview(buf))
    raw = [bytes(gd.section(memoryview(buf), s, i)) for i, s in enumerate(secs)]
    objects = [dict(name=o.name, kind=o.kind, payload=raw[o.sec][o.off:o.off + o.len]) for o in objs]
    tensors = [dict(name=t.name, shape=t.shape, dtype=t.dtype, enc=t.enc, params=bytes(t.params), refs=t.refs,
                    payload=raw[t.sec][t.off:t.off + t.len]) for t in ts]
    return meta, objects, tensors


def fix_checksums(b):
    """Section CRCs, manifest CRC and file hash recomputed as far as the layout can be followed
    (tests/fuzz/fuzz_artifact.cpp FixChecksums)."""
    b = bytearray(b)
    if len(b) < 32:
        return bytes(b)
    msize = int.from_bytes(b[12:16], 'little')
    if msize > len(b) - 32:
        return bytes(b)
    r = gd.Reader(b[16:16 + msize])
    try:
        for _ in range(r.var('m')):
            r.take(r.var('l'), 's')
            r.take(r.var('l'), 's')
        pos, end = 20 + msize, len(b) - 12
        for _ in range(r.var('c')):
            r.u8('codec')
            stored = r.var('stored')
            r.var('raw')
            if r.left() < 4:
                break
            crc = gd.crc32c(bytes(b[pos:pos + stored])) if pos <= end and stored <= end - pos else 0
            b[16 + r.p:20 + r.p] = crc.to_bytes(4, 'little')
            r.take(4, 'crc')
            if stored > end:
                break
            pos += stored
    except ValueError:
        pass
    b[16 + msize:20 + msize] = gd.crc32c(bytes(b[:16 + msize])).to_bytes(4, 'little')
    b[-12:-4] = gd.xxh64(bytes(b[:-12])).to_bytes(8, 'little')
    return bytes(b)


# ---------------------------------------------------------------- the two decoders

def golfpack(*args):
    return subprocess.run([GP, '-q', *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS='1', OMP_WAIT_POLICY='PASSIVE'))


def cpp_decode(path):
    out = WORK / 'cpp.safetensors'
    r = golfpack('unpack', '--f32', path, '-o', out)
    if r.returncode:
        return None, r.stderr.strip()
    return read_safetensors_f32(out), None


def py_decode(src):
    try:
        return gd.decode(src), None
    except ValueError as e:
        msg = str(e)
        check('\n' not in msg and msg, f'one-line ValueError message: {msg!r}')
        return None, msg


def note_coverage(buf):
    version, _, secs, _, ts = gd.read(memoryview(buf))
    SEEN['version'].add(version)
    SEEN['codec'].update(s.codec for s in secs)
    SEEN['shuffle'].update(s.shuffle for s in secs)
    for t in ts:
        for u in (t, getattr(t, 'inner', None)):
            if u is not None:
                SEEN['enc'].add(u.enc)
                if hasattr(u, 'model'):
                    SEEN['model'].add(u.model)
                if hasattr(u, 'dtype_s'):
                    SEEN['scale_dtype'].add(u.dtype_s)


def same(py, cpp):
    if py is None or cpp is None or set(py) != set(cpp):
        return False
    return all(py[k].dtype == np.float32 and py[k].shape == cpp[k].shape and
               np.array_equal(py[k].view(np.uint32), cpp[k].view(np.uint32)) for k in py)


def compare(label, buf):
    """Both decoders accept buf and agree bit for bit."""
    path = WORK / (label + '.gpk')
    path.write_bytes(buf)
    t0 = time.time()
    py, perr = py_decode(str(path))
    dt = time.time() - t0
    cpp, cerr = cpp_decode(path)
    ok = cpp is not None and py is not None and same(py, cpp)
    check(ok, f'{label}: bit-exact decode (py: {perr}; c++: {cerr})')
    if ok:
        note_coverage(buf)
        print(f'ok   {label}: {len(py)} tensors, {sum(v.size for v in py.values())} values, '
              f'{len(buf)} bytes, python {dt:.3f} s')
    return py


def agree(label, buf, expect_reject=False):
    """Python raises ValueError exactly when the C++ decoder rejects; equal values otherwise."""
    path = WORK / 'case.gpk'
    path.write_bytes(buf)
    py, perr = py_decode(bytes(buf))
    cpp, cerr = cpp_decode(path)
    if cpp is None or py is None:
        check(cpp is None and py is None, f'{label}: both reject (py: {perr}; c++: {cerr})')
        AGREED['rejected'] += cpp is None and py is None
    else:
        check(same(py, cpp), f'{label}: both accept with the same values')
        AGREED['accepted'] += same(py, cpp)
    if expect_reject:
        check(py is None, f'{label}: python rejects')
    return perr


# ---------------------------------------------------------------- hand-made payloads

def f16(v):
    return np.asarray(v, '<f2').tobytes()


def f32(v):
    return np.asarray(v, '<f4').tobytes()


def pack_bits(values, bits):
    acc = 0
    for i, v in enumerate(values):
        acc |= int(v) << (i * bits)
    return acc.to_bytes((len(values) * bits + 7) // 8, 'little')


def handmade(rng):
    """(tensors, objects): every encoding, scale dtype and edge shape the writer can make by hand."""
    def codes(n, maxc):
        return rng.integers(-maxc, maxc + 1, n)
    special16 = [0x0001, 0x03ff, 0x8001, 0x7c00, 0xfc00, 0x7e00, 0x7d01, 0x3c00, 0x0000, 0x8000, 0x7bff, 0xfbff]
    t = [
        dict(name='raw32', shape=[2, 3], enc=0, payload=f32(rng.standard_normal(6))),
        dict(name='scalar', shape=[], enc=0, payload=f32([3.5])),
        dict(name='raw16.special', shape=[12], dtype=1, enc=1, payload=np.array(special16, '<u2').tobytes()),
        dict(name='bf16', shape=[2, 4], dtype=2, enc=2,
             payload=np.array([0x3f80, 0xbf81, 0x7f80, 0xff80, 0x7fc1, 0x7f81, 0x0001, 0x8000], '<u2').tobytes()),
        dict(name='empty.rows', shape=[0, 4], enc=1, payload=b''),
        dict(name='pg.row', shape=[3, 5], enc=3,
             payload=f16([0.01, -0.5, 3e-6]) + np.array([-128, 127, 0, -1, 5] * 3, np.int8).tobytes()),
        dict(name='pg.row.nocols', shape=[3, 0], enc=3, payload=f16([1, 2, 3])),
        dict(name='pg.tensor', shape=[7], enc=4, payload=f32([0.02]) + np.array([-128, -127, -1, 0, 1, 126, 127],
                                                                               np.int8).tobytes()),
        dict(name='const', shape=[5], enc=6, params=f32([0.75]), payload=b''),
        dict(name='const.nan', shape=[2, 2], enc=6, params=struct.pack('<I', 0x7fc12345), payload=b''),
        dict(name='const.empty', shape=[0], enc=6, params=f32([1]), payload=b''),
    ]
    # uniform: packing 0 and 1, every scale dtype, per row and per group
    for bits, packing, dtype, group, shape in [(8, 0, 2, 0, [3, 8]), (5, 1, 2, 4, [2, 12]), (3, 1, 0, 0, [5, 3]),
                                               (2, 1, 1, 2, [1, 6]), (7, 0, 1, 3, [2, 6]), (4, 1, 0, 0, [4, 0])]:
        rows, cols = shape
        ns = rows * (cols // group if group else 1)
        maxc = (1 << (bits - 1)) - 1
        q = codes(rows * cols, maxc)
        body = np.asarray(q, np.int8).tobytes() if packing == 0 else pack_bits(q + maxc, bits)
        sc = rng.uniform(0.001, 0.1, ns)
        scales = f16(sc) if dtype == 0 else f32(sc) if dtype == 1 else \
            (np.asarray(sc, np.float32).view(np.uint32) >> 16).astype('<u2').tobytes()
        t.append(dict(name=f'uniform.b{bits}p{packing}s{dtype}g{group}', shape=shape, enc=5,
                      params=bytes([bits, packing, dtype]) + group.to_bytes(4, 'little'), payload=scales + body))
    # codebook: two tensors share one 8-level object; one 2-level (bits 1) object
    objects = [dict(name='levels8', payload=f32(np.sort(rng.standard_normal(8)))), dict(name='levels2', payload=f32([-1, 1]))]
    for name, bits, dtype, group, shape, ref in [('cb.a', 3, 1, 8, [4, 16], 0), ('cb.b', 3, 0, 0, [3, 5], 0),
                                                 ('cb.c', 1, 2, 2, [2, 6], 1)]:
        rows, cols = shape
        ns = rows * (cols // group if group else 1)
        sc = rng.uniform(0.5, 2, ns)
        scales = f16(sc) if dtype == 0 else f32(sc) if dtype == 1 else \
            (np.asarray(sc, np.float32).view(np.uint32) >> 16).astype('<u2').tobytes()
        t.append(dict(name=name, shape=shape, enc=8, refs=[ref], params=bytes([bits, dtype]) + group.to_bytes(4, 'little'),
                      payload=scales + pack_bits(rng.integers(0, 1 << bits, rows * cols), bits)))

    # lowrank over several inner encodings, factor bits 16 / 2..8 with and without groups
    def factor(n, m, bits, group):
        if bits == 16:
            return f16(rng.standard_normal(n * m) * 0.1)
        g = group or m
        s = -(-m // g) if m else 0
        maxc = (1 << (bits - 1)) - 1
        return f16(rng.uniform(0.01, 0.1, n * s)) + pack_bits(codes(n * m, maxc) + maxc, bits)
    for inner in t[:]:
        if len(inner['shape']) != 2 or inner['enc'] in (8,) or inner['name'].startswith('lr'):
            continue
        rows, cols = inner['shape']
        for rank, bits, group in [(2, 16, 0), (3, 2, 3), (1, 8, 0), (2, 4, 64)]:
            if rank == 1 and inner['enc'] != 3:
                continue
            params = varint(inner['enc']) + varint(len(inner.get('params', b''))) + inner.get('params', b'') + \
                varint(len(inner['payload'])) + bytes([rank, bits]) + varint(group)
            t.append(dict(name=f'lr{rank}b{bits}g{group}.{inner["name"]}', shape=[rows, cols], enc=9, params=params,
                          payload=inner['payload'] + factor(rank, rows, bits, group) + factor(rank, cols, bits, group)))
    t.append(dict(name='lr.const', shape=[3, 4], enc=9, params=varint(6) + varint(4) + f32([0.5]) + varint(0) +
                  bytes([2, 16, 0]), payload=factor(2, 3, 16, 0) + factor(2, 4, 16, 0)))
    # ans_grid by hand: streams of 1 to 13 symbols (partial last groups), order-0 and context models
    for i, (n, model) in enumerate([(1, 0), (2, 1), (3, 0), (4, 1), (5, 0), (7, 1), (9, 0), (13, 1), (1, 1), (6, 0)]):
        t.append(ans_tensor(f'ans.n{n}.m{model}.{i}', [1, n], rng.integers(-3, 4, n), model, rng))
    t.append(ans_tensor('ans.long', [3, 40], np.clip(np.round(rng.standard_normal(120) * 4), -9, 9), 1, rng))
    # column classes (model 9): K = 2, 4 (class 2 has no column, so no table), 16; 1 to 7 rows
    for rows, k, cls in [(5, 4, [0, 1, 3, 3, 1, 0]), (1, 2, [1, 0, 1]), (7, 16, [15, 0, 9, 4, 4]), (2, 2, [0] * 9)]:
        spread = np.array([1, 2, 4, 8] * 4)[cls]
        c = np.clip(np.round(rng.standard_normal((rows, len(cls))) * spread), -20, 20).ravel()
        t.append(ans_tensor(f'ans.cc{k}.r{rows}', [rows, len(cls)], c, 9, rng, k, cls))
    # trellis grids (models 2..8) and trellis grids with column classes (models 10..16): K = 2, 4 (class 2
    # has no column), 16; a union with no symbols in a class; one row
    for rows, cols, model, cls in [(5, 6, 3, None), (4, 7, 10, [0, 1, 1, 0, 1, 0, 0]), (6, 5, 12, [3, 0, 1, 3, 0]),
                                   (1, 9, 16, [15, 2, 2, 7, 0, 0, 11, 2, 15]), (3, 8, 11, [1] * 8)]:
        t.append(trellis_tensor(f'tcq.m{model}.r{rows}', rows, cols, model, cls, rng))
    # patch: every unit, bits 16 and 2..8, rice_k 0..40, over raw, grids, const and lowrank
    by = {e['name']: e for e in t}
    for inner, unit, block, bits, k, count in [('raw32', 0, 0, 4, 1, 3), ('uniform.b5p1s2g4', 1, 4, 16, 0, 2),
                                               ('pg.row', 2, 0, 8, 2, 2), ('uniform.b8p0s2g0', 3, 0, 2, 0, 3),
                                               ('lr2b16g0.raw32', 0, 0, 3, 5, 6), ('const.nan', 3, 0, 16, 40, 1),
                                               ('pg.row', 0, 0, 7, 0, 1), ('uniform.b7p0s1g3', 1, 2, 5, 3, 4),
                                               ('lr3b2g3.uniform.b3p1s0g0', 2, 0, 6, 1, 3)]:
        t.append(patch_tensor(by[inner], unit, block, bits, k, sorted(rng.choice(
            patch_units(by[inner]['shape'], unit, block)[0], count, replace=False)), factor, f'p{unit}b{bits}k{k}.'))
    return t, objects


def rans_stream(codes, model, m=12, k=3, cls=None, stored=None):
    """FORMAT.md "rANS streams" written by hand (its informative encoder): the stream bytes of codes
    (symbol = code + Z), order-0 (model 0), context (model 1, k contexts; unused contexts get no table)
    or column classes (model 9: k classes, cls[c] the class of column c; `stored`: other classes to
    write, for damaged streams)."""
    a = 2 * int(max(abs(int(c)) for c in codes)) + 1
    z = (a - 1) // 2
    sym = [int(c) + z for c in codes]
    if model == 9:
        ctx = [cls[i % len(cls)] for i in range(len(sym))]
    else:
        ctx = [0] + [min(abs(s - z), k - 1) for s in sym[:-1]] if model else [0] * len(sym)
    tabs = {}
    for c in sorted(set(ctx)):
        cnt = np.bincount([s for s, x in zip(sym, ctx) if x == c], minlength=a)
        f = np.where(cnt > 0, np.maximum(1, cnt * (1 << m) // cnt.sum()), 0)
        f[np.argmax(f)] += (1 << m) - f.sum()
        tabs[c] = [int(v) for v in f]

    def body(f):
        out, s = b'', 0
        while s < len(f):
            if f[s]:
                out, s = out + varint(f[s]), s + 1
            else:
                r = next((j for j in range(s, len(f)) if f[j]), len(f)) - s
                out, s = out + varint(0) + varint(r - 1), s + r
        return out
    x, out = [1 << 23] * 4, bytearray()
    for i in range(len(sym) - 1, -1, -1):
        f = tabs[ctx[i]]
        fs, cum = f[sym[i]], sum(f[:sym[i]])
        while x[i % 4] >= ((1 << 23 >> m) << 8) * fs:
            out.append(x[i % 4] & 255)
            x[i % 4] >>= 8
        x[i % 4] = (x[i % 4] // fs << m) + x[i % 4] % fs + cum
    head = bytes([k, m]) + varint(a) + varint(z) + varint(sum(1 << c for c in tabs)) if model else \
        bytes([m]) + varint(a)
    head += b''.join(body(tabs[c]) for c in sorted(tabs))
    if model == 9:
        head += pack_bits(cls if stored is None else stored, k.bit_length() - 1)
    return head + b''.join(v.to_bytes(4, 'little') for v in x[:min(len(sym), 4)]) + bytes(reversed(out))


def ans_tensor(name, shape, codes, model, rng, k=3, cls=None):
    """An ans_grid tensor, f16 scales per row, by hand."""
    return dict(name=name, shape=shape, enc=7, params=bytes([0]) + bytes(4) + bytes([model]),
                payload=f16(rng.uniform(0.01, 0.1, shape[0])) + rans_stream(codes, model, k=k, cls=cls))


def trellis_tensor(name, rows, cols, model, cls, rng):
    """An ans_grid trellis grid by hand (FORMAT.md models 2..8 and 10..16): every row walks the trellis
    from state 0 with random union indices; the union streams are order-0 streams (cls None) or, with
    column classes cls (K = 2 ** ceil(log2(max + 1)), at least 2), segmented streams."""
    v_bits = model - 8 if model > 9 else model
    h0, h1 = (h >> 1 for h in gd.TRELLIS[v_bits - 2])
    k = 1 if cls is None else max(2, 1 << (max(cls)).bit_length())
    col = [0] * cols if cls is None else cls
    seg = [[[] for _ in range(k)] for _ in range(2)]  # seg[a][class]: union a's v, walk order
    s = [0] * rows
    for c in range(cols):
        for r in range(rows):
            a = s[r] & 1
            v = int(rng.integers(-4, 5)) if (r + c) % 3 else int(rng.integers(-1, 2))
            seg[a][col[c]].append(v)
            s[r] = (s[r] >> 1) ^ (h0 if a else 0) ^ (h1 if v & 1 else 0)
    streams = []
    for a in range(2):
        vs = [v for x in seg[a] for v in x]
        if not vs:
            streams.append(b'')
        elif cls is None:
            streams.append(rans_stream(vs, 0))
        else:
            per = [j for j in range(k) for _ in seg[a][j]]
            streams.append(rans_stream(vs, 9, k=k, cls=per, stored=[]))
    head = varint(len(seg[1][0])) if cls is None else \
        bytes([k]) + pack_bits(cls, k.bit_length() - 1) + b''.join(varint(len(x)) for x in seg[1])
    return dict(name=name, shape=[rows, cols], enc=7, params=bytes([0]) + bytes(4) + bytes([model]),
                payload=f16(rng.uniform(0.01, 0.1, rows)) + head + varint(len(streams[0])) + streams[0] + streams[1])


def patch_units(shape, unit, block):
    rows, cols = shape
    return [(rows * cols, 1), (rows * cols // max(block, 1), block), (cols, rows), (rows, cols)][unit]


def rice(gaps, k):
    """FORMAT.md patch positions: each gap as g >> k one-bits, a zero, the low k bits; LSB-first bytes."""
    bits = []
    for g in gaps:
        bits += [1] * (g >> k) + [0] + [g >> i & 1 for i in range(k)]
    return pack_bits(bits, 1)


def patch_tensor(inner, unit, block, bits, k, units, factor, prefix='patch.'):
    """A patch (encoding 10) tensor over the hand-made tensor `inner` (a dict as build() takes)."""
    _, ln = patch_units(inner['shape'], unit, block)
    n, m = (1, len(units)) if unit == 0 else (len(units), ln)
    gaps = [int(u) - int(v) - 1 for u, v in zip(units, [-1] + list(units[:-1]))]
    params = varint(inner['enc']) + varint(len(inner.get('params', b''))) + inner.get('params', b'') + \
        varint(len(inner['payload'])) + bytes([unit]) + varint(block) + bytes([bits, k]) + varint(len(units))
    return dict(name=prefix + inner['name'], shape=inner['shape'], enc=10, params=params,
                payload=inner['payload'] + factor(n, m, bits, 0) + rice(gaps, k))


# FORMAT.md's worked example for patch (Patch.GoldenPayloadDecodesToHandComputedFloats)
PATCH_EXAMPLE = dict(name='patch.example', shape=[2, 3], enc=10, params=bytes([0, 0, 0x18, 2, 0, 4, 1, 2]),
                     payload=np.arange(1, 7, dtype='<f4').tobytes() + bytes([0, 0x38, 0, 0x3C, 0x59, 0x87, 0x08]))


def patch_cases():
    """(label, tensors): malformed patch tensors FORMAT.md rejects, each a change of the worked example."""
    ex, p, pl = PATCH_EXAMPLE, PATCH_EXAMPLE['params'], PATCH_EXAMPLE['payload']

    def t(**kw):
        return [dict(ex, **kw)]
    raw24 = np.arange(1, 7, dtype='<f4').tobytes()
    return [
        ('ndim 1', t(shape=[6])), ('ndim 3', t(shape=[1, 2, 3])),
        ('inner_encoding 10 (patch in patch)', t(params=bytes([10]) + p[1:])),
        ('inner_encoding 8 (codebook takes refs)', t(params=bytes([8]) + p[1:])),
        ('inner_encoding 11 (unknown)', t(params=bytes([11]) + p[1:])),
        ('inner params rejected by raw_f32', t(params=bytes([0, 1, 0]) + p[2:])),
        ('inner_payload_size 20 for raw_f32', t(params=p[:2] + bytes([20]) + p[3:], payload=raw24[:20] + pl[24:])),
        ('unit 4', t(params=p[:3] + bytes([4]) + p[4:])),
        ('block 1 with unit 2', t(params=p[:4] + bytes([1]) + p[5:])),
        ('block 0 with unit 1', t(params=p[:3] + bytes([1, 0]) + p[5:])),
        ('block 2 does not divide cols 3', t(params=p[:3] + bytes([1, 2]) + p[5:])),
        ('bits 1', t(params=p[:5] + bytes([1]) + p[6:])), ('bits 9', t(params=p[:5] + bytes([9]) + p[6:])),
        ('bits 17', t(params=p[:5] + bytes([17]) + p[6:])), ('bits 0', t(params=p[:5] + bytes([0]) + p[6:])),
        ('rice_k 41', t(params=p[:6] + bytes([41]) + p[7:])),
        ('count 0', t(params=p[:7] + bytes([0]))), ('count 4 > U = 3 columns', t(params=p[:7] + bytes([4]))),
        ('trailing params byte', t(params=p + b'\0')), ('params cut before count', t(params=p[:7])),
        ('payload under the minimum', t(payload=pl[:-1])),
        ('values: reserved code 15', t(payload=pl[:28] + bytes([0x5F]) + pl[29:])),
        ('values: nonzero padding bits (bits 3)', t(params=p[:5] + bytes([3]) + p[6:],
                                                    payload=pl[:28] + bytes([0x00, 0xF0]) + pl[30:])),
        ('positions: unit 3 >= U = 3', t(payload=pl[:-1] + bytes([0b1100]))),
        ('positions: stream ends early', t(payload=pl[:-1] + bytes([0xFF]))),
        ('positions: nonzero bits after the last gap', t(payload=pl[:-1] + bytes([0x88]))),
        ('positions: a byte after the last gap', t(payload=pl + b'\0')),
        ('positions: element 9 >= U = 6', t(params=p[:3] + bytes([0, 0, 4, 0, 2]),
                                            payload=raw24 + bytes([0, 0x38, 0x59, 0xFF, 0x01]))),
        ('lowrank over patch', [dict(name='lr.patch', shape=[2, 3], enc=9,
                                     params=varint(10) + varint(len(p)) + p + varint(len(pl)) + bytes([1, 16, 0]),
                                     payload=pl + bytes(10))]),
    ]


# ---------------------------------------------------------------- the self-extracting form

def sfx_checks(artifacts, rng):
    """SFX (python/make_sfx.py's output, built with the CLI): one line of at most 15,000 bytes, the bytes
    `pack --code python` counts and writes next to the artifact, and, imported or run, it decodes and
    rejects exactly like python/golfpack_decode.py."""
    data = Path(SFX).read_bytes()
    print(f'sfx  {SFX}: {len(data)} bytes')
    check(len(data) <= 15000, f'self-extracting decoder: {len(data)} bytes, over 15,000')
    check(data.endswith(b'\n') and data.count(b'\n') == 1, 'self-extracting decoder is one line')
    out = WORK / 'sfx.gpk'
    r = golfpack('pack', WORK / 'model.safetensors', '-r', 'pg-int8-zlib', '--code', 'python', '-o', out)
    check(r.returncode == 0 and f'(file + {len(data)} code bytes)' in r.stdout,
          f'pack --code python counts {len(data)} code bytes: {r.stdout.strip()} {r.stderr.strip()}')
    path = WORK / 'sfx.gpk.decode.py'
    check(path.exists() and path.read_bytes() == data, 'pack --code python writes the decoder next to the artifact')
    if not path.exists():
        return 1
    r = golfpack('pack', WORK / 'model.safetensors', '-r', 'pg-int8-zlib', '--code', 'python', '--code-bytes', '123',
                 '-o', WORK / 'sfx2.gpk')
    check(r.returncode == 0 and '(file + 123 code bytes)' in r.stdout, f'--code-bytes overrides --code python: {r.stdout}')
    spec = importlib.util.spec_from_file_location('golfpack_decode_sfx', path)
    sx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sx)
    check(all(callable(getattr(sx, k, None)) for k in ('decode', 'read', 'section', 'crc32c', 'xxh64', 'Reader')),
          'the sfx module exposes decode, read, section, crc32c, xxh64, Reader')
    ts, objs = handmade(rng)
    bufs = dict(artifacts, handmade=build(ts, objs, codecs=(3,)), patch_example=build([PATCH_EXAMPLE]),
                sfx=out.read_bytes(), handmade_v3=build(ts, objs, codecs=(3,), shuffles=(3,)))
    for label, buf in bufs.items():
        if any(s.codec == 4 for s in gd.read(memoryview(buf))[2]) and not optional('brotli'):
            continue
        a, b = gd.decode(buf), sx.decode(buf)
        check(same(b, a), f'sfx: {label} decodes like golfpack_decode.py')
        if label in ('handmade', 'sfx', 'handmade_v3'):
            (WORK / 'h.gpk').write_bytes(buf)
            check(same(b, cpp_decode(WORK / 'h.gpk')[0]), f'sfx: {label} decodes like the C++ decoder')
    bad = [(label, build(t)) for label, t in patch_cases()]
    b = bytearray(bufs['rd-ans-o0-lqer'])
    b[len(b) // 2] ^= 1
    bad += [('flipped byte', bytes(b)), ('truncated', bufs['handmade'][:-1])]
    for label, buf in bad:
        errs = []
        for m in (gd, sx):
            try:
                m.decode(buf)
                errs.append(None)
            except ValueError as e:
                errs.append(str(e))
        check(errs[0] is not None and errs[0] == errs[1], f'sfx: {label}: the same ValueError ({errs})')
    r = subprocess.run([sys.executable, str(path), str(out), str(WORK / 's.npz')], capture_output=True, text=True)
    ok = r.returncode == 0
    if ok:
        z, ref = np.load(WORK / 's.npz'), gd.decode(str(out))
        ok = set(z.files) == set(ref) and all(np.array_equal(z[k].view(np.uint32), ref[k].view(np.uint32)) for k in ref)
    check(ok, f'python3 sfx.gpk.decode.py MODEL.gpk OUT.npz: {r.stderr.strip()}')
    print(f'{PASSES[0]} passed, {len(FAILS)} failed')
    return 1 if FAILS else 0


# ---------------------------------------------------------------- the test

def main():
    rng = np.random.default_rng(0)
    print(f'golfpack {GP}; work dir {WORK}')
    brotli, zstd = optional('brotli'), optional('zstandard')

    # primitives
    check(gd.crc32c(b'123456789') == 0xE3069283, 'CRC-32C check value')
    check(gd.xxh64(b'') == 0xEF46DB3751D8E999, 'XXH64 of the empty input')
    data = rng.integers(0, 256, 100003, dtype=np.uint8).tobytes()
    ref = 0xFFFFFFFF
    for x in data[:5000]:
        ref = ref >> 8 ^ gd.CRCL[(ref ^ x) & 255]
    check(gd.crc32c(data[:5000]) == ref ^ 0xFFFFFFFF, 'CRC-32C: chunked = bytewise')
    check(gd.crc32c(data) == gd.crc32c(data[:63] + data[63:]), 'CRC-32C deterministic')

    # A Parameter Golf-shaped model and a calibration file (H = X^T X per input site) by hand
    d, vocab, hidden = 64, 1088, 128

    def w(*shape, scale=0.05):
        return (rng.standard_normal(shape) * scale).astype(np.float32)
    model = {'tok_emb.weight': (w(vocab, d), 'F32'),  # > 65,536 elements: pg_int8_row
             'blocks.0.attn.c_q.weight': (w(d, d), 'F32'), 'blocks.0.attn.c_k.weight': (w(d // 2, d), 'F32'),
             'blocks.0.attn.c_v.weight': (w(d // 2, d), 'F32'), 'blocks.0.attn.proj.weight': (w(d, d), 'F32'),
             'blocks.0.mlp.fc.weight': (w(hidden, d), 'F32'), 'blocks.0.mlp.proj.weight': (w(d, hidden), 'F32'),
             'blocks.0.attn_scale': (1 + w(d), 'F32'), 'blocks.0.mlp_scale': (1 + w(d), 'BF16'),
             'blocks.0.resid_mix': (w(2, d), 'F32'), 'blocks.0.attn.q_gain': (1 + w(4), 'F16'),
             'skip_weights': (w(1, d), 'F32'), 'final_bias': (w(70000, scale=0.01), 'F32')}  # pg_int8_tensor
    write_safetensors(WORK / 'model.safetensors', model)

    def hessian(n):
        x = rng.standard_normal((256, n)).astype(np.float32)
        return x.T @ x, 'F32'
    write_safetensors(WORK / 'calib.safetensors',
                      {'head_in': hessian(d), 'blocks.0.attn_in': hessian(d), 'blocks.0.attn.proj_in': hessian(d),
                       'blocks.0.mlp_in': hessian(d), 'blocks.0.mlp.proj_in': hessian(hidden)},
                      {'golfpack.calibration': 'hessian-v1', 'golfpack.tokens': '256', 'golfpack.seq_len': '64'})

    artifacts = {}
    rd = ['-r', 'rd', '--calib', WORK / 'calib.safetensors', '--code-bytes', '0']
    packs = [('pg-int8-zlib', ['-r', 'pg-int8-zlib']),
                        ('rd-ans-o0-lqer', rd + ['--budget', 220000]),
                        ('rd-ans-ctx4-bf16', rd + ['--budget', 220000, '--family', 'ans:s{s}:g16:ctx4:sbf16',
                                                   '--paths', 'grid']),
                        ('rd-tcq', rd + ['--budget', 180000, '--paths', 'grid,tcq,lqer', '--tcq-state-bits', 4,
                                         '--tcq-ratios', '0.4,0.5']),
                        ('rd-gptq-ans-ctx8-f32', rd + ['--budget', 220000, '--family', 'gptq:ans:s{s}:g32:ctx8:sf32']),
                        ('rd-uniform-packed-f32', rd + ['--budget', 220000, '--family', 'u{s}:g16:none:packed:sf32',
                                                        '--paths', 'grid']),
                        ('rd-uniform-bytes-bf16', rd + ['--budget', 280000, '--family', 'u{s}:row:none:sbf16',
                                                        '--paths', 'grid']),
                        ('rd-bits-back', rd + ['--budget', 220000, '--bits-back']),
                        ('rd-tcq-bits-back', rd + ['--budget', 180000, '--paths', 'grid,tcq,lqer', '--tcq-state-bits', 4,
                                                   '--bits-back']),
                        ('gptq-int6-brotli', ['-r', 'gptq-int6-brotli', '--calib', WORK / 'calib.safetensors']),
                        ('record-lqer', ['-r', 'record-lqer', '--calib', WORK / 'calib.safetensors'])]
    for label, args in packs[:4] if SFX else packs:
        out = WORK / f'{label}.gpk'
        r = golfpack('pack', WORK / 'model.safetensors', *args, '-o', out)
        check(r.returncode == 0, f'golfpack pack {label}: {r.stderr.strip()}')
        if r.returncode == 0:
            artifacts[label] = out.read_bytes()
        if r.returncode == 0 and 'bits-back' in label:  # the MLP's unit order carries its fc scales
            fc = next(t for t in gd.read(memoryview(artifacts[label]))[4] if t.name == 'blocks.0.mlp.fc.weight')
            while fc.enc in (9, 10):
                fc = fc.inner
            check(fc.enc == 7 and len(fc.params) == 8 and fc.carry == 89,
                  f'{label}: fc carries floor(log2(128!) / 8) = 89 scale bytes (ans_grid row-order carry)')
    artifacts['golden_v2'] = (ROOT / 'tests/gpk/golden_v2.gpk').read_bytes()
    artifacts['golden_v3'] = (ROOT / 'tests/gpk/golden_v3.gpk').read_bytes()
    if SFX:
        return sfx_checks(artifacts, rng)

    for label, buf in artifacts.items():
        if any(s.codec == 4 for s in gd.read(memoryview(buf))[2]) and not brotli:
            print(f'note {label}: brotli sections, and /usr/bin/python3 has no brotli module: '
                  f'only the manifest is checked')
            check(gd.read(memoryview(buf))[0] in (1, 2, 3), f'{label}: manifest parses')
            try:
                gd.decode(buf)
                check(False, f'{label}: decoding without brotli must fail')
            except ValueError as e:
                check('brotli' in str(e), f'{label}: missing brotli module named: {e}')
            continue
        compare(label, buf)
    if 'record-lqer' in artifacts:  # the records' stride-2 byte shuffle before brotli: version 3
        v, _, secs, _, _ = gd.read(memoryview(artifacts['record-lqer']))
        check(v == 3 and [(s.codec, s.shuffle) for s in secs] == [(4, 2)],
              f'record-lqer: version 3, one brotli section with shuffle stride 2 ({v}, {secs})')
    golden3 = compare('golden_v3-values', artifacts['golden_v3'])
    check(golden3 is not None and {k: v.ravel().tolist() for k, v in golden3.items()} == {
        'a': [1, -2, 0.5], 'b': [1, -2, 63.5], 'c': [-1.5, -0.5, 0.5, 1.5, 3, 1, -1, -3], 'd': [0.25, 0.25],
        'e': [1, -2]}, 'golden_v3 decodes to its known values')
    py = gd.decode(str(WORK / 'rd-ans-o0-lqer.gpk'))
    check(all(np.array_equal(py[k], v) for k, v in gd.decode(artifacts['rd-ans-o0-lqer']).items()),
          'decode(bytes) == decode(path)')

    # Every payload again, rewritten: one xz section; one uncompressed section per payload; version 1
    rewritable = {k: v for k, v in artifacts.items() if k in ('pg-int8-zlib', 'rd-ans-o0-lqer', 'rd-ans-ctx4-bf16', 'rd-tcq',
                                                              'rd-bits-back',
                                                              'rd-uniform-packed-f32', 'golden_v2', 'golden_v3')}
    for label, buf in rewritable.items():
        meta, objs, ts = pieces(buf)
        compare(label + '.xz', build(ts, objs, codecs=(3,), meta=meta, version=2))
        compare(label + '.xz-shuffle2', build(ts, objs, codecs=(3,), meta=meta, shuffles=(2,)))
        compare(label + '.zlib-shuffle4', build(ts, objs, codecs=(1,), meta=meta, shuffles=(4,)))
        n = len(objs) + len(ts)
        for i, e in enumerate(objs + ts):
            e['sec'] = i
        compare(label + '.own-sections', build(ts, objs, codecs=(0,) * n, meta=meta, version=2))
        if not objs:
            for e in ts:
                e['sec'] = 0
            compare(label + '.v1-zlib', build(ts, codecs=(1,), meta=meta, version=1))

    # Hand-made: every encoding, scale dtype, special value and edge shape; mixed codecs
    ts, objs = handmade(rng)
    for i, e in enumerate(ts):
        e['sec'] = i % 3
    objs[0]['sec'], objs[1]['sec'] = 2, 0
    hand = build(ts, objs, codecs=(0, 1, 3), meta={'arch': 'gpt', 'ключ': 'значение'})
    compare('handmade', hand)
    hand3 = build(ts, objs, codecs=(0, 1, 3), shuffles=(2, 3, 4), meta={'arch': 'gpt'})
    check(same(compare('handmade.v3-shuffled', hand3), gd.decode(hand)), 'handmade: shuffled = unshuffled values')
    for extra, mod in ((2, zstd), (4, brotli)):
        if mod:
            compare(f'handmade.codec{extra}', build(ts, objs, codecs=(extra,), meta={}))
        else:
            print(f'note codec {extra}: /usr/bin/python3 has no {"zstandard" if extra == 2 else "brotli"} module: '
                  'not tested')
    # patch (encoding 10): FORMAT.md's worked example, then every malformed case the spec lists
    py = compare('patch-example', build([PATCH_EXAMPLE]))
    check(py is not None and py['patch.example'].tolist() == [[2, 2, 3], [3, 5, 7]],
          'patch worked example decodes to [2, 2, 3; 3, 5, 7]')
    for label, ts in patch_cases():
        agree(f'patch: {label}', build(ts), expect_reject=True)
    tiny = build([dict(name='x', shape=[4], enc=0, payload=f32([1, 2, 3, 4]))])
    compare('tiny-v1', tiny)
    compare('empty', build([], codecs=()))

    # Version 3: every stride 2..15 over sections of 0 and 2 to 9 bytes, one payload each (no encoding has a
    # 1-byte payload, so no section has 1 byte): const (0 bytes), uniform [1, m] bytes packing (2 + m bytes)
    for k in range(2, 16):
        ts, want = [dict(name='c', shape=[3], enc=6, params=f32([-0.5]), payload=b'', sec=0)], {'c': [-0.5] * 3}
        for m in range(8):
            q = [(37 * (m + j + k)) % 255 - 127 for j in range(m)]
            ts.append(dict(name=f'u{m}', shape=[1, m], enc=5, params=bytes([8, 0, 0, 0, 0, 0, 0]),
                           payload=f16([1]) + np.array(q, np.int8).tobytes(), sec=m + 1))
            want[f'u{m}'] = q
        codecs = (0, 1, 3) * 3
        py = compare(f'v3-stride{k}', build(ts, codecs=codecs, shuffles=(k,) * 9))
        check(py is not None and all(py[n].ravel().tolist() == v for n, v in want.items()),
              f'v3 stride {k}: the values written')
    one = [dict(name='x', shape=[4], enc=0, payload=f32([1, 2, 3, 4]))]
    compare('v3-no-shuffle', build(one, version=3))
    for label, b, msg in [('v3 shuffle stride 1', build(one, shuffles=(1,), version=3), 'shuffle stride 1'),
                          ('v1 codec byte 0x20', build(one, shuffles=(2,), version=1), 'stride 2 needs version 3'),
                          ('v2 codec byte 0xF0', build(one, shuffles=(15,), version=2), 'stride 15 needs version 3'),
                          ('v3 back-end 5', build(one, codecs=(5,), shuffles=(2,)), 'unknown codec 5'),
                          ('v3 back-end 15', build(one, codecs=(15,), version=3), 'unknown codec 15'),
                          ('v3 codec byte 0x1F', build(one, codecs=(15,), shuffles=(1,)), 'unknown codec 15')]:
        err = agree(label, b, expect_reject=True)
        check(err is not None and 'section 0: codec at offset' in err and msg in err, f'{label}: {err}')

    # The command line: npz out
    r = subprocess.run([sys.executable, str(ROOT / 'python/golfpack_decode.py'), str(WORK / 'handmade.gpk'),
                        str(WORK / 'h.npz')], capture_output=True, text=True)
    ok = r.returncode == 0
    if ok:
        z, ref = np.load(WORK / 'h.npz'), gd.decode(hand)
        ok = set(z.files) == set(ref) and all(np.array_equal(z[k].view(np.uint32), ref[k].view(np.uint32)) for k in ref)
    check(ok, f'golfpack_decode.py MODEL.gpk OUT.npz: {r.stderr.strip()}')

    # Coverage: every encoding, both rANS models, every scale dtype, codecs none/zlib/xz, versions 1 to 3, strides
    check(SEEN['enc'] == set(range(11)), f'encodings covered: {sorted(SEEN["enc"])}')
    check({0, 1, 3, 4, 9, 10, 11, 12, 16} <= SEEN['model'], f'ans_grid models covered (4: rd-tcq\'s trellis): '
          f'{SEEN["model"]}')
    check(SEEN['scale_dtype'] == {0, 1, 2}, f'scale dtypes covered: {SEEN["scale_dtype"]}')
    check({0, 1, 3} <= SEEN['codec'], f'codecs covered: {SEEN["codec"]}')
    check(SEEN['version'] == {1, 2, 3}, f'versions covered: {SEEN["version"]}')
    check(SEEN['shuffle'] == set(range(16)) - {1}, f'shuffle strides covered: {SEEN["shuffle"]}')

    # Damage: a flipped byte, truncation (each caught by the footer / sizes)
    for label in ('handmade', 'rd-ans-o0-lqer', 'pg-int8-zlib', 'golden_v2', 'golden_v3', 'handmade.v3'):
        buf = hand if label == 'handmade' else hand3 if label == 'handmade.v3' else artifacts[label]
        flipped = bytearray(buf)
        flipped[len(buf) // 2] ^= 0x10
        agree(f'{label}: flipped byte', bytes(flipped), expect_reject=True)
        agree(f'{label}: truncated by 1', buf[:-1], expect_reject=True)
        agree(f'{label}: footer hash changed', buf[:-12] + bytes([buf[-12] ^ 1]) + buf[-11:], expect_reject=True)
        for cut in (len(buf) // 2, 31):
            try:
                gd.decode(buf[:cut])
                check(False, f'{label}: truncated to {cut} bytes accepted')
            except ValueError as e:
                check('\n' not in str(e), f'{label}: one-line error')
    try:
        gd.decode(artifacts['rd-ans-o0-lqer'], max_elements=1000)
        check(False, 'max_elements limit')
    except ValueError as e:
        check('max_elements' in str(e), f'max_elements limit: {e}')

    # Mutations with the checksums recomputed: they reach the manifest rules and the decoders
    rnd = random.Random(8)
    for label in ('handmade', 'rd-ans-o0-lqer.own', 'rd-ans-ctx4-bf16.own', 'golden_v2', 'golden_v3', 'handmade.v3'):
        base = hand if label == 'handmade' else hand3 if label == 'handmade.v3' else \
            artifacts[label] if label.startswith('golden') else None
        if base is None:
            meta, objs2, ts2 = pieces(artifacts[label[:-4]])
            ts2 = ([t for t in ts2 if t['enc'] == 9] + [t for t in ts2 if t['enc'] == 7][1:])[:3]
            for i, e in enumerate(ts2):
                e['sec'] = i
            base = build(ts2, codecs=(0,) * len(ts2))
        msize = int.from_bytes(base[12:16], 'little')
        for k in range(12):
            b = bytearray(base)
            at = rnd.randrange(16, 16 + msize) if k % 2 else rnd.randrange(20 + msize, len(b) - 12)
            b[at] = (b[at] + rnd.choice([1, 255, 128, rnd.randrange(256)])) & 255
            agree(f'{label}: byte {at} mutated, checksums fixed', fix_checksums(b))

    # Header and manifest errors, checksums recomputed
    msize = int.from_bytes(tiny[12:16], 'little')
    for name, b in [('version 4', tiny[:8] + b'\4\0' + tiny[10:]), ('version 0', tiny[:8] + b'\0\0' + tiny[10:]),
                    ('flags 1', tiny[:10] + b'\1\0' + tiny[12:]), ('bad magic', b'GOLFPACX' + tiny[8:]),
                    ('bad end magic', tiny[:-1] + b'F'),
                    ('manifest trailing byte', tiny[:12] + (msize + 1).to_bytes(4, 'little') + tiny[16:16 + msize] +
                     b'\0' + tiny[16 + msize:]),
                    ('manifest one byte short', tiny[:12] + (msize - 1).to_bytes(4, 'little') + tiny[16:])]:
        agree(name, fix_checksums(b), expect_reject=True)

    # Hand-made payload errors (valid container, bad payload)
    def variant(label, name, change):
        t2, o2 = handmade(np.random.default_rng(1))
        e = next(x for x in t2 if x['name'] == name)
        change(e, t2, o2)
        return agree(label, build(t2, o2), expect_reject=True)
    variant('uniform code -128 (bytes packing)', 'uniform.b8p0s2g0',
            lambda e, t, o: e.update(payload=e['payload'][:-1] + b'\x80'))
    variant('uniform reserved packed value', 'uniform.b3p1s0g0',  # 5 f16 scales, then code 0 = 7
            lambda e, t, o: e.update(payload=e['payload'][:10] + bytes([e['payload'][10] | 7]) + e['payload'][11:]))
    variant('codebook nonzero padding', 'cb.b', lambda e, t, o: e.update(payload=e['payload'][:-1] + b'\xff'))
    variant('unreferenced object', 'cb.b', lambda e, t, o: o.append(dict(name='orphan', payload=f32([1]))))
    variant('const params_size 3', 'const', lambda e, t, o: e.update(params=b'\0\0\0'))
    variant('lowrank over codebook', 'cb.b', lambda e, t, o: t.append(dict(
        name='lr.cb', shape=[3, 5], enc=9, params=varint(8) + varint(len(e['params'])) + e['params'] +
        varint(len(e['payload'])) + bytes([1, 16, 0]), payload=e['payload'] + bytes(16))))
    variant('pg_int8_row payload one byte short', 'pg.row', lambda e, t, o: e.update(payload=e['payload'][:-1]))
    variant('ans_grid column class without a table', 'ans.cc4.r5', lambda e, t, o: e.update(  # column 5: 0 -> 2
        payload=f16([0.05] * 5) + rans_stream(np.arange(30) % 7 - 3, 9, k=4, cls=[0, 1, 3, 3, 1, 0],
                                              stored=[0, 1, 3, 3, 1, 2])))
    variant('ans_grid 8 column classes named as 3', 'ans.cc2.r1', lambda e, t, o: e.update(
        payload=e['payload'][:2] + bytes([3]) + e['payload'][3:]))
    variant('lowrank factor reserved code', 'lr3b2g3.raw32',  # A: 3 x 2 codes after 3 f16 scales
            lambda e, t, o: e.update(payload=e['payload'][:24 + 6] + b'\x03' + e['payload'][24 + 7:]))
    meta, _, ts3 = pieces(artifacts['rd-ans-o0-lqer'])
    ans = next(t for t in ts3 if t['enc'] == 7)
    for name, payload in [('ans_grid trailing byte', ans['payload'] + b'\0'),
                          ('ans_grid truncated stream', ans['payload'][:-1]),
                          ('ans_grid stream byte changed', ans['payload'][:-9] + bytes([ans['payload'][-9] ^ 1]) +
                           ans['payload'][-8:])]:
        agree(name, build([dict(ans, payload=payload)]), expect_reject=True)
    # A change near the end of the stream that only the final-state check sees (same bytes consumed)
    final = None
    for k in range(1, 200):
        p = ans['payload']
        b = build([dict(ans, payload=p[:-k] + bytes([p[-k] ^ 1]) + p[len(p) - k + 1:])])
        try:
            gd.decode(b)
        except ValueError as e:
            if 'final state' in str(e):
                final = b
                break
    check(final is not None, 'a stream change caught by the final-state check alone')
    if final:
        agree('ans_grid final state', final, expect_reject=True)

    print(f'damaged copies: {AGREED["rejected"]} rejected by both decoders, {AGREED["accepted"]} accepted by both '
          'with the same values')
    print(f'{PASSES[0]} passed, {len(FAILS)} failed')
    return 1 if FAILS else 0


if __name__ == '__main__':
    try:
        rc = main()
    finally:
        for p in sorted(WORK.glob('*')):
            p.unlink()
        WORK.rmdir()
    sys.exit(rc)
