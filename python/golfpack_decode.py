"""Standalone decoder for golfpack .gpk artifacts (docs/FORMAT.md, versions 1
to 3). numpy + stdlib only; brotli / zstd sections import `brotli` /
`zstandard` when met.

    from golfpack_decode import decode
    state = decode("model.gpk")   # {name: np.float32 array of the manifest's shape}

A damaged or malformed file raises ValueError with one line naming the part.
"""
import lzma
import sys
import zlib
from math import isqrt
from types import SimpleNamespace as NS

import numpy as np

L = 1 << 23  # rANS lower bound
M64 = (1 << 64) - 1
P1, P2, P3, P4, P5 = (11400714785074694791, 14029467366897019727, 1609587929392839161,
                      9650029242287828579, 2870177450012600261)
NAMES = ('raw_f32', 'raw_f16', 'raw_bf16', 'pg_int8_row', 'pg_int8_tensor', 'uniform', 'const',
         'ans_grid', 'codebook', 'lowrank', 'patch')
_c = np.arange(256, dtype=np.uint32)
for _ in range(8):
    _c = np.where(_c & 1, (_c >> 1) ^ np.uint32(0x82F63B78), _c >> 1)
CRC = _c.astype(np.uint32)
CRCL = CRC.tolist()


def fail(msg):
    raise ValueError(msg)


def crc32c(b):
    """CRC-32C; long inputs as K interleaved chunks combined by a shift table."""
    n = len(b)
    if n < 64:
        c = 0xFFFFFFFF
        for x in bytes(b):
            c = c >> 8 ^ CRCL[(c ^ x) & 255]
        return c ^ 0xFFFFFFFF
    k = 4 * isqrt(n) + 1
    w = -(-n // k)  # k rows of w bytes, zero-padded in front (no effect with state 0)
    a = np.zeros(k * w, np.uint8)
    a[k * w - n:] = np.frombuffer(b, np.uint8)
    a[k * w - n:k * w - n + 4] ^= 255  # initial value 0xFFFFFFFF
    a = a.reshape(k, w).T.copy()
    s = np.zeros(k, np.uint32)
    z = (np.arange(256, dtype=np.uint32) << np.arange(0, 32, 8, dtype=np.uint32)[:, None]).ravel()
    for col in a:
        s = s >> 8 ^ CRC.take((s ^ col) & 255)
        z = z >> 8 ^ CRC.take(z & 255)  # z: the state after w zero bytes, per input byte
    z0, z1, z2, z3 = z.reshape(4, 256).tolist()
    c = 0
    for r in s.tolist():
        c = z0[c & 255] ^ z1[c >> 8 & 255] ^ z2[c >> 16 & 255] ^ z3[c >> 24] ^ r
    return c ^ 0xFFFFFFFF


def _rotl(x, r):
    return (x << r | x >> (64 - r)) & M64


def _round(a, x):
    return _rotl((a + x * P2) & M64, 31) * P1 & M64


def xxh64(b):
    """XXH64 with seed 0."""
    n, i, h = len(b), 0, P5
    if n >= 32:
        i = n // 32 * 32
        v = [(P1 + P2) & M64, P2, 0, -P1 & M64]
        with np.errstate(over='ignore'):  # x * P2 mod 2^64 in numpy; the lanes' chains in Python ints
            xp = (np.frombuffer(b, '<u8', i // 8).reshape(-1, 4).T * np.uint64(P2)).tolist()
        for k, lane in enumerate(xp):
            a = v[k]
            for x in lane:
                a = (a + x) & M64
                a = ((a << 31 | a >> 33) & M64) * P1 & M64
            v[k] = a
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for a in v:
            h = ((h ^ _round(0, a)) * P1 + P4) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, int.from_bytes(b[i:i + 8], 'little')), 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ int.from_bytes(b[i:i + 4], 'little') * P1 & M64, 23) * P2 + P3) & M64
        i += 4
    for x in bytes(b[i:]):
        h = _rotl(h ^ x * P5 & M64, 11) * P1 & M64
    h = (h ^ h >> 33) * P2 & M64
    h = (h ^ h >> 29) * P3 & M64
    return h ^ h >> 32


class Reader:
    """Bounds-checked little-endian reads; errors name the file offset."""

    def __init__(self, b, base=0):
        self.b, self.p, self.base = bytes(b), 0, base

    def left(self):
        return len(self.b) - self.p

    def bad(self, what, msg, at=None):
        fail(f'{what} at offset {self.base + (self.p if at is None else at)}: {msg}')

    def take(self, n, what):
        if n > self.left():
            self.bad('reading ' + what, f'need {n} bytes, {self.left()} left')
        self.p += n
        return self.b[self.p - n:self.p]

    def u8(self, what, lo=0, hi=255):
        v = self.take(1, what)[0]
        if not lo <= v <= hi:
            self.bad(what, f'{v} outside [{lo}, {hi}]', self.p - 1)
        return v

    def u32(self, what):
        return int.from_bytes(self.take(4, what), 'little')

    def var(self, what, lo=0, hi=M64):
        at, v, k = self.p, 0, 0
        while True:
            if self.p >= len(self.b):
                self.bad('reading ' + what, 'truncated varint', at)
            c = self.b[self.p]
            self.p += 1
            if k == 63 and c > 1:
                self.bad('reading ' + what, 'varint longer than 64 bits', at)
            v |= (c & 127) << k
            k += 7
            if c < 128:
                break
        if c == 0 and k > 7:
            self.bad('reading ' + what, 'overlong varint', at)
        if not lo <= v <= hi:
            self.bad(what, f'{v} outside [{lo}, {hi}]', at)
        return v

    def count(self, what):
        at, n = self.p, self.var(what)
        if n > self.left():  # each entry takes >= 1 byte
            self.bad(what, f'{n} exceeds the {self.left()} manifest bytes left after it', at)
        return n

    def str(self, what):
        s = self.take(self.var(what + ' length', 0, 65535), what)
        try:
            if 0 in s:
                raise ValueError
            return s.decode()
        except ValueError:
            self.bad(what, 'contains NUL or is not valid UTF-8', self.p - len(s))


def _f16(u):
    """binary16 bits (uint16 array) -> float32, exact (NaN payloads kept)."""
    u = u.astype(np.uint32)
    b = (u & 0x7fff) << 13
    f = (b.view(np.float32) * np.float32(2.0 ** 112)).view(np.uint32)
    return (np.where(b >= 0x0f800000, b | 0x7f800000, f) | (u & 0x8000) << 16).view(np.float32)


def _scales(b, dtype, n):
    if dtype == 1:
        return np.frombuffer(b, '<f4', n).astype(np.float32)
    u = np.frombuffer(b, '<u2', n)
    return _f16(u) if dtype == 0 else (u.astype(np.uint32) << 16).view(np.float32)


def _unpack(b, n, bits, what, reserved=True):
    """n codes of `bits` (1..8 or 16) bits, LSB-first, in exactly ceil(n*bits/8) bytes: every
    8 codes fill `bits` bytes. The padding bits must be 0; 2^bits-1 is rejected if reserved."""
    a = np.frombuffer(b, np.uint8)
    if n * bits % 8 and a[-1] >> n * bits % 8:
        fail(what + ': nonzero padding bits after the last packed code')
    g = np.zeros(-(-n // 8) * bits, np.uint16)
    g[:len(a)] = a
    g = np.pad(g.reshape(-1, bits), ((0, 0), (0, 1)))
    v = np.stack([(g[:, k * bits >> 3] | g[:, (k * bits >> 3) + 1] << 8) >> (k * bits & 7)
                  for k in range(8)], 1).ravel()[:n] & (1 << bits) - 1
    if reserved and n and v.max() == (1 << bits) - 1:
        fail(f'{what}: packed value {(1 << bits) - 1} is the reserved value 2^bits - 1')
    return v.astype(np.int64)


def _grid(t, what, gs, dtype, code_bits):
    """Scales per row or group: sets t.ns (scale count), t.group, t.sb (scale bytes); returns code bytes."""
    if not t.shape:
        fail(what + ': needs ndim >= 1, got a 0-d tensor')
    if dtype > 2:
        fail(f'{what}: unknown scale_dtype {dtype}')
    rows = t.shape[0]
    cols = t.n // rows if rows else 0
    if gs and cols % gs:
        fail(f'{what}: group_size {gs} does not divide cols {cols}')
    t.group = gs or cols
    t.ns = rows * (cols // gs if gs else 1)
    t.sb = t.ns * (4 if dtype == 1 else 2)
    return (t.n * code_bits + 7) // 8


def _dequant(t, dtype, codes, pl):
    s = _scales(pl, dtype, t.ns)
    return (codes.astype(np.float32).reshape(t.ns, t.group) * s[:, None]).ravel()


def _params(t, size):
    if len(t.params) != size:
        fail(f'{NAMES[t.enc]}: params_size {len(t.params)}, expected {size}')


def _size(t):
    """Validates t.params for t.shape; returns (payload size, fixed-rate)."""
    e, n, p = t.enc, t.n, t.params
    if e < 5 and p:
        _params(t, 0)
    if e == 0:
        return 4 * n, 1
    if e in (1, 2):
        return 2 * n, 1
    if e == 3:
        if not t.shape or not t.shape[0]:
            fail('pg_int8_row: needs ndim >= 1 and rows >= 1')
        return 2 * t.shape[0] + n, 1
    if e == 4:
        return 4 + n, 1
    if e == 5:
        _params(t, 7)
        t.bits, t.packing, t.dtype_s, gs = p[0], p[1], p[2], int.from_bytes(p[3:7], 'little')
        if not 2 <= t.bits <= 8:
            fail(f'uniform: bits {t.bits} outside [2, 8]')
        if t.packing > 1:
            fail(f'uniform: unknown packing {t.packing}')
        code = _grid(t, 'uniform', gs, t.dtype_s, t.bits if t.packing else 8)
        return t.sb + code, 1
    if e == 6:
        _params(t, 4)
        return 0, 1
    if e == 7:
        c = len(p) == 8 and p[5] > 127  # the row-order carry
        if not c:
            _params(t, 6)
        t.dtype_s, gs, t.model = p[0], int.from_bytes(p[1:5], 'little'), p[5] & (127 if c else 255)
        t.carry = int.from_bytes(p[6:8], 'little') if c else 0
        if t.dtype_s > 2:
            fail(f'ans_grid: unknown scale_dtype {t.dtype_s}')
        if t.model > 16:
            fail(f'ans_grid: unknown model {t.model}')
        _grid(t, 'ans_grid', gs, t.dtype_s, 0)
        if c and (not t.carry or gs or t.carry > t.sb or t.shape[0] > 8192):
            fail(f'ans_grid: bad carry {t.carry}')
        t.sb -= t.carry  # the stored scale bytes
        return t.sb + (2 if t.model > 1 and t.model != 9 else 4 + (t.model > 0) + 4 * min(n, 4)), 0
    if e == 8:
        _params(t, 6)
        t.bits, t.dtype_s, gs = p[0], p[1], int.from_bytes(p[2:6], 'little')
        if not 1 <= t.bits <= 8:
            fail(f'codebook: bits {t.bits} outside [1, 8]')
        code = _grid(t, 'codebook', gs, t.dtype_s, t.bits)
        return t.sb + code, 1
    # 9 lowrank, 10 patch: an inner encoding, its params and payload size, then their own fields
    w = NAMES[e]
    if len(t.shape) != 2:
        fail(f'{w}: needs ndim 2, got {len(t.shape)}')
    rows, cols = t.shape
    r = Reader(p)
    ie = r.var(w + ' inner_encoding')
    ip = r.take(r.var(w + ' inner_params_size'), w + ' inner params')
    t.inner_len = r.var(w + ' inner_payload_size')
    if e == 9:
        t.rank, t.bits, t.lr_group = r.u8('lowrank rank'), r.u8('lowrank bits'), r.var('lowrank group')
    else:
        t.unit, t.block, t.bits = r.u8('patch unit', 0, 3), r.var('patch block'), r.u8('patch bits')
        t.rice_k, t.count = r.u8('patch rice_k', 0, 40), r.var('patch count')
    if not (ie < 8 or ie == 9 and e == 10):
        fail(f'{w}: inner_encoding {ie} is not allowed (unknown, {"lowrank, " * (e == 9)}patch or takes refs)')
    if r.left():
        fail(f'{w}: {r.left()} trailing params bytes')
    if t.bits != 16 and not 2 <= t.bits <= 8:
        fail(f'{w}: bits {t.bits} not 2..8 or 16')
    if e == 9 and not t.rank:
        fail('lowrank: rank 0')
    if e == 9 and t.bits == 16 and t.lr_group:
        fail(f'lowrank: group {t.lr_group} with bits 16')
    t.inner = NS(name=t.name, shape=t.shape, n=n, enc=ie, params=ip, refs=[])
    try:
        need, fixed = _size(t.inner)
    except ValueError as x:
        fail(f'{w}: inner {x}')
    if need != t.inner_len if fixed else need > t.inner_len:
        fail(f'{w}: inner_payload_size {t.inner_len}, {NAMES[ie]} needs {need}')
    if e == 9:
        t.blocks = [_block(t.rank, rows, t.bits, t.lr_group), _block(t.rank, cols, t.bits, t.lr_group)]
        return t.inner_len + sum(b[0] for b in t.blocks), 1
    if t.block if t.unit != 1 else not t.block or cols % t.block:
        fail(f'patch: block {t.block} with unit {t.unit} (unit 1: a length dividing cols {cols}; else 0)')
    t.units, t.ulen = [(n, 1), (n // max(t.block, 1), t.block), (cols, rows), (rows, cols)][t.unit]
    if not 1 <= t.count <= t.units:
        fail(f'patch: count {t.count} outside [1, {t.units}]')
    t.vn = (1, t.count) if t.unit == 0 else (t.count, t.ulen)
    t.vals = _block(*t.vn, t.bits, 0)
    return t.inner_len + t.vals[0] + (t.count * (t.rice_k + 1) + 7) // 8, 0


def _block(n, m, bits, g):
    """A block of n x m values (FORMAT.md `lowrank`): (bytes, scales per row, values per scale)."""
    g = g or m
    s = 0 if bits > 8 or not g else -(-m // g)
    return 2 * n * s + (n * m * bits + 7) // 8, s, g


def _values(b, n, m, bits, blk, what):
    """A block's n x m float32 values (f16 for bits 16, else f16 scale times code - maxc)."""
    _, s, g = blk
    u = _unpack(b[2 * n * s:], n * m, bits, what, bits < 16)
    if bits > 8:
        return _f16(u).reshape(n, m)
    sc = _f16(np.frombuffer(b, '<u2', n * s)).reshape(n, s)
    q = (u.reshape(n, m) + 1 - (1 << (bits - 1))).astype(np.float32)
    return sc[:, np.arange(m) // g] * q


def _freqs(r, a, m):
    """A frequency table body (FORMAT.md "Frequency table")."""
    f, s, tot, at = [0] * a, 0, 1 << m, r.p
    while s < a:
        pos = r.p
        v = r.var('rANS frequency')
        if v:
            if v > tot:
                r.bad('rANS frequency table', f'frequency {v} of symbol {s} takes the sum past 2^{m}', pos)
            tot -= v
            f[s] = v
            s += 1
            continue
        if s and not f[s - 1]:
            r.bad('rANS frequency table', f'zero run at symbol {s} follows another zero run', pos)
        s += r.var('rANS zero run length', 0, a - s - 1) + 1
    if tot:
        r.bad('rANS frequency table', f'frequencies do not sum to 2^{m}', at)
    return f


def _stream(t, pl):
    """Parses ans_grid's stream header (model 0 order-0, 1 context, 9 column classes; FORMAT.md "rANS
    streams") into t.st: slot tables per context, the column classes, the initial states and the
    renormalisation bytes."""
    r = Reader(pl[t.sb:], t.sb)
    n = t.n
    if t.model:
        k = r.u8('ContextRans context count', 1, 64)
        m = r.u8('ContextRans scale_bits', 10, 15)
        a = r.var('ContextRans alphabet size', 1, 4096)
        z0 = r.var('ContextRans zero point', 0, a - 1)
        at = r.p
        mask = r.var('ContextRans table mask')
        if mask >> k:
            r.bad('ContextRans table mask', f'names contexts beyond {k}', at)
        tabs = [_freqs(r, a, m) if mask >> c & 1 else None for c in range(k)]
        if t.model == 10 and k != t.k:
            fail(f'ans_grid: segmented stream with {k} contexts, K is {t.k}')
        if t.model == 9:
            if k not in (2, 4, 8, 16):
                fail(f'{k} column classes, must be 2, 4, 8 or 16')
            cols = n // t.shape[0] if n else 0
            bits = k.bit_length() - 1
            cls = _unpack(r.take((cols * bits + 7) // 8, 'ans_grid column classes'), cols, bits,
                          'ans_grid column classes', False)
    else:
        m = r.u8('rANS table scale_bits', 10, 15)
        a = r.var('rANS table alphabet size', 1, 4096)
        tabs, z0, k = [_freqs(r, a, m)], 0, 1
    if a % 2 == 0:
        fail(f'rANS alphabet size {a} is even (codes are symmetric: it must be odd)')
    z = (a - 1) // 2
    if t.model and z0 != z:
        fail(f'context model zero_point {z0}, expected (alphabet - 1) / 2 = {z}')
    x = [r.u32('rANS initial state') for _ in range(min(n, 4))]
    if any(not L <= v < 1 << 31 for v in x):
        r.bad('rANS payload', 'initial state outside [0x800000, 0x80000000)')
    t.st = NS(n=n, g=(n + 3) // 4, m=m, a=a, z=z, z0=z0, k=k, tabs=tabs, x=x + [L] * (4 - len(x)),
              d=r.b[r.p:], size=(1 << m) * sum(f is not None for f in tabs),
              cls=cls if t.model == 9 else t.seg if t.model == 10 else None)


def _walk(t, pl):
    """The ans_grid (tensor, payload) pairs in t, inner encodings included."""
    return [(t, pl)] if t.enc == 7 else _walk(t.inner, pl[:t.inner_len]) if t.enc > 8 else []


# ans_grid models 2..8 (FORMAT.md "trellis grids"): Ungerboeck's (h0, h1) for 2^model states.
TRELLIS = ((0o5, 0o2), (0o13, 0o4), (0o23, 0o4), (0o45, 0o10), (0o103, 0o24), (0o235, 0o126), (0o515, 0o362))


def _unions(t, pl):
    """A trellis grid's two union streams, as ans_grid nodes [(u, payload)] (u.sb: where its stream starts):
    order-0 streams (models 2..8), or segmented streams (models 10..16: node model 10, u.seg the context of
    every symbol). Sets t.cls (each column's class) and t.cnt (symbols per union and class)."""
    r = Reader(pl[t.sb:], t.sb)
    rows = t.shape[0]
    cols = t.n // rows if rows else 0
    k, t.cls = 1, np.zeros(cols, np.int64)
    if t.model > 9:
        k = r.u8('ans_grid K')
        if k not in (2, 4, 8, 16):
            fail(f'ans_grid: {k} column classes')
        bits = k.bit_length() - 1
        t.cls = _unpack(r.take((cols * bits + 7) // 8, 'column classes'), cols, bits, 'column classes', False)
    per = np.bincount(t.cls, minlength=k) * rows  # elements of each class
    n1 = np.array([r.var('ans_grid n1') for _ in range(k)], np.int64)
    for c in range(k):
        if n1[c] > per[c]:
            fail(f'ans_grid: n1 {n1[c]} exceeds the {per[c]} elements of class {c}')
    t.cnt = np.stack([per - n1, n1])
    size0 = r.var('ans_grid size0', 0, r.left())
    a = t.sb + r.p
    us = []
    for u, (lo, hi) in enumerate(((a, a + size0), (a + size0, len(pl)))):
        n = int(t.cnt[u].sum())
        if (n == 0) != (hi == lo):
            fail(f'union {u} has {n} symbols in {hi - lo} bytes')
        seg = np.repeat(np.arange(k), t.cnt[u]) if k > 1 else None
        us.append((NS(n=n, model=10 if k > 1 else 0, sb=lo, k=k, seg=seg), pl[:hi]))
    return us


def _trellis(t, us):
    """Walks every row's trellis from state 0, the rows in lockstep (column-major symbol order): sets t.codes.
    Union a's symbols for a column of class k come from the segment k of its stream."""
    rows = t.shape[0]
    cols = t.n // rows if rows else 0
    h0, h1 = (h >> 1 for h in TRELLIS[(t.model - 8 if t.model > 9 else t.model) - 2])
    v = [u.codes.astype(np.int64) for u, _ in us]
    end = np.cumsum(t.cnt, 1)  # end[a][k]: one past union a's segment k
    at = end - t.cnt  # the next unread symbol
    s, out = np.zeros(rows, np.int64), np.empty((cols, rows), np.int64)
    for c in range(cols):
        k = t.cls[c]
        a = s & 1
        m = a == 1
        n1 = int(m.sum())
        if at[0][k] + rows - n1 > end[0][k] or at[1][k] + n1 > end[1][k]:
            t.err = 'the trellis needs more symbols than a union stream has'
            return
        x = np.empty(rows, np.int64)
        x[~m], x[m] = v[0][at[0][k]:at[0][k] + rows - n1], v[1][at[1][k]:at[1][k] + n1]
        at[0][k] += rows - n1
        at[1][k] += n1
        out[c] = 2 * x + a
        s = (s >> 1) ^ (a * h0) ^ ((x & 1) * h1)
    if (at != end).any():
        t.err = 'symbols of a union stream left over after the trellis'
        return
    t.codes = out.T.ravel()


def _prep(nodes):
    """Decodes the streams of ans_grid nodes [(t, payload)]: sets t.codes or t.err (raised by _decode)."""
    run, walks, subs = [], [], []
    for t, pl in nodes:
        t.err, t.codes = None, np.zeros(0, np.int32)
        if t.model > 1 and t.model != 9:
            try:
                us = _unions(t, pl)
            except ValueError as x:
                t.err = str(x)
                continue
            walks.append((t, us))
            for u, upl in us:
                u.err, u.codes, u.st = None, np.zeros(0, np.int32), None
                if u.n:
                    subs.append((u, upl))
            continue
        subs.append((t, pl))
    for t, pl in subs:
        try:
            _stream(t, pl)
        except ValueError as x:
            t.err = str(x)
            continue
        if t.st.n:
            run.append(t)
        elif t.st.d:
            t.err = f'rANS payload: {len(t.st.d)} trailing bytes after 0 symbols'
    _ans(run)
    for t, us in walks:
        t.err = next((u.err for u, _ in us if u.err), None)
        if not t.err:
            _trellis(t, us)
    for t, _ in nodes + subs:
        t.st = None


def _ans(ts):
    """Decodes the rANS streams of ans_grid tensors ts (their t.st), sets t.codes (symbol - Z) or t.err.
    Batches of streams decode together: loop step g decodes symbol group g (symbols 4g..4g+3, one per
    state) of every stream still running, in numpy; a tensor's bytes are read strictly in symbol order."""
    for part in ([t for t in ts if t.model != 1], [t for t in ts if t.model == 1]):  # context streams apart
        part.sort(key=lambda t: -t.st.g)
        i = 0
        while i < len(part):  # batches of at most 2^24 table entries
            j, size = i + 1, part[i].st.size
            while j < len(part) and size + part[j].st.size <= 1 << 24:
                size += part[j].st.size
                j += 1
            _batch(part[i:j])
            i = j


def _batch(ts):
    # Global slot tables, entry j = a table's base + slot: F (frequency), B (slot - cum), SY (symbol),
    # NB (base of the next symbol's table). Region 0 stands for a context without a table (SY -1);
    # an identity table per scale_bits (F = 2^M, B = slot) leaves a state unchanged, for the unused
    # lanes of a stream's last group.
    F, B, SY, NB, at, ident = [np.ones(1 << 15, np.int64)], [np.zeros(1 << 15, np.int64)], \
        [np.full(1 << 15, -1)], [np.zeros(1 << 15, np.int64)], 1 << 15, {}
    for t in ts:
        s, size = t.st, 1 << t.st.m
        if s.m not in ident:
            ident[s.m] = at
            F.append(np.full(size, size))
            B.append(np.arange(size))
            SY.append(np.zeros(size, np.int64))
            NB.append(np.full(size, at))
            at += size
        base = []
        for f in s.tabs:
            base.append(at if f else 0)
            if f:
                f = np.array(f)
                sym = np.repeat(np.arange(s.a), f)
                F.append(f[sym])
                B.append(np.arange(size) - (np.cumsum(f) - f)[sym])
                SY.append(sym)
                at += size
        s.base = np.array(base)[np.minimum(np.abs(np.arange(s.a) - s.z0), s.k - 1)]  # by previous symbol
        s.cb = np.array(base)[s.cls] if s.cls is not None else s.base[:1]  # model 9: by column
        NB += [s.base[y] for y in SY[len(NB):]]
    F, B, SY, NB = (np.concatenate(v).astype(np.int32) for v in (F, B, SY, NB))  # states stay below 2^31
    ctx = any(t.model == 1 for t in ts)
    # Column classes: the table base of stream r's symbol i is CB[OF[r] + i % P[r]] (order-0: P = 1).
    cls = any(t.model in (9, 10) for t in ts)
    if cls:
        CB = np.concatenate([t.st.cb for t in ts]).astype(np.int64)
        OF = np.repeat(np.cumsum([0] + [len(t.st.cb) for t in ts[:-1]])[None], 4, 0)
        P = np.repeat(np.array([len(t.st.cb) for t in ts], np.int64)[None], 4, 0)
        I = np.repeat(np.arange(4)[:, None], len(ts), 1) % P  # position of symbol 4g + k within its row
        S4 = 4 % P
    # Lanes: arrays (4, streams), column r = the 4 states of stream r; longest streams first, so the
    # running streams are a prefix. Everything per stream is spelled out per lane (no broadcasting).
    T, G = len(ts), [t.st.g for t in ts]
    X = np.array([t.st.x for t in ts], np.int64).T
    MS = np.array([[t.st.m] * 4 for t in ts], np.int64).T
    MK = (1 << MS) - 1
    BS = np.array([[t.st.base[t.st.z0]] * 4 for t in ts], np.int64).T  # order-0: the table's base
    J = BS[0].copy()  # context streams: the next symbol's table base
    size = [len(t.st.d) for t in ts]
    ends = np.cumsum(size)
    PC = np.zeros((5, T), np.int64)  # row 0: the stream's byte position; rows 1-4: bytes read by lane k
    PC[0] = ends - size
    d = np.frombuffer(b''.join(t.st.d for t in ts) + bytes(8 * G[0] + 2), np.uint8).astype(np.int32)
    D16 = d[:-1] << 8 | d[1:]  # 2 bytes at each offset, the first more significant
    xs = np.zeros(1 << 16, np.int64)  # bytes a state x needs, by x >> 15: 2 below 2^15, 1 below 2^23
    xs[0], xs[1:256] = 2, 1
    NS8 = 16 - 8 * xs  # 16 - 8 * bytes
    U5 = np.tril(np.ones((5, 5), np.int64))  # U5 @ PC: positions of lanes 0-3, then the next position
    fix = {}  # step -> (lanes, streams, identity bases) of the unused lanes in a stream's last group
    for r, t in enumerate(ts):
        for c in range(t.st.n % 4 or 4, 4):
            fix.setdefault(t.st.g - 1, []).append((c, r, ident[t.st.m]))
    fix = {g: tuple(np.array(v) for v in zip(*k)) for g, k in fix.items()}
    XF, PF, A, at = X.copy(), PC[0].copy(), T, 0
    rows = np.append(0, np.cumsum(np.bincount(G)[::-1].cumsum()[::-1][1:]))  # step g runs #{G_s > g} streams
    out = np.empty((4, rows[-1]), np.int64)  # step g's table indices: columns rows[g] + stream
    x, ms, mk, bs, pc, s15, s16 = X.copy(), MS, MK, BS, PC, MS * 0 + 15, MS * 0 + 16
    for g in range(G[0]):
        if G[A - 1] <= g:  # streams that ended: keep their final states and positions
            a = A
            while G[A - 1] <= g:
                A -= 1
            XF[:, A:a], PF[A:a] = x[:, A:], pc[0, A:]
            x, ms, mk, bs, J, pc, s15, s16 = (v[..., :A].copy() for v in (x, ms, mk, bs, J, pc, s15, s16))
            if cls:
                OF, P, I, S4 = (v[:, :A].copy() for v in (OF, P, I, S4))
        j = out[:, at:at + A]
        at += A
        np.bitwise_and(x, mk, out=j)
        if g in fix:
            cc, rr, ib = fix[g]
            jf = j[cc, rr] + ib
        if ctx:  # the previous symbol picks the table: a chain through the group
            j[0] += J
            j[1] += NB.take(j[0])
            j[2] += NB.take(j[1])
            j[3] += NB.take(j[2])
            J = NB.take(j[3])
        elif cls:
            j += CB.take(OF + I)
            I += S4
            I[I >= P] -= P[I >= P]
        else:
            j += bs
        if g in fix:
            j[cc, rr] = jf
        x >>= ms
        x *= F.take(j)
        x += B.take(j)
        xi = x >> s15
        xs.take(xi, out=pc[1:])
        q = U5 @ pc
        pc[0] = q[4]
        x <<= s16  # then 2 bytes below, shifted right by 16 - 8 * bytes read
        x |= D16.take(q[:4])
        x >>= NS8.take(xi)
    XF[:, :A], PF[:A] = x, pc[0]
    for r, t in enumerate(ts):
        s = t.st
        y = SY.take(out[:, rows[:s.g] + r].T.ravel()[:s.n])
        if y.min() < 0:
            t.err = f'rANS payload: symbol {int(np.argmax(y < 0))} falls in a context with no table'
        elif PF[r] > ends[r]:
            t.err = f'rANS payload: truncated (the {s.n} symbols need more than its {len(s.d)} bytes)'
        elif PF[r] < ends[r]:
            t.err = f'rANS payload: {ends[r] - PF[r]} trailing bytes after {s.n} symbols'
        elif (XF[:, r] != L).any():
            t.err = 'rANS payload: final state is not 0x800000 (stream corrupt)'
        t.codes = y - s.z


def _decode(t, pl, objs):
    """The payload of tensor t -> flat float32 array of t.n values."""
    e, n = t.enc, t.n
    if e == 0:
        return np.frombuffer(pl, '<f4', n).astype(np.float32)
    if e in (1, 2):
        return _scales(pl, e * 2 - 2, n)
    if e == 3:
        rows = t.shape[0]
        q = np.frombuffer(pl, np.int8, n, 2 * rows).astype(np.float32)
        return (q.reshape(rows, n // rows) * _scales(pl, 0, rows)[:, None]).ravel()
    if e == 4:
        return np.frombuffer(pl, np.int8, n, 4).astype(np.float32) * np.frombuffer(pl, '<f4', 1)[0]
    if e == 5:
        maxc = (1 << (t.bits - 1)) - 1
        if t.packing:
            q = _unpack(pl[t.sb:], n, t.bits, 'uniform').astype(np.int64) - maxc
        else:
            q = np.frombuffer(pl, np.int8, n, t.sb)
            if n and np.abs(q.astype(np.int64)).max() > maxc:
                fail(f'uniform: code outside [-{maxc}, {maxc}]')
        return _dequant(t, t.dtype_s, q, pl)
    if e == 6:
        return np.frombuffer(t.params, '<f4').astype(np.float32).repeat(n)
    if e == 7:
        if not hasattr(t, 'err'):
            _prep([(t, pl)])
        if t.err:
            fail(f'ans_grid: {t.err}')
        c, t.codes = t.codes, None
        return _dequant(t, t.dtype_s, c, _carry(t, c, pl) if t.carry else pl)
    if e == 8:
        kind, data = objs[0]
        if kind or len(data) != 4 << t.bits:
            fail(f'codebook: object must be f32_values with 2^{t.bits} levels')
        idx = _unpack(pl[t.sb:], n, t.bits, 'codebook', False)
        return _dequant(t, t.dtype_s, np.frombuffer(data, '<f4')[idx], pl)
    rows, cols = t.shape
    w = NAMES[e]
    try:
        out = _decode(t.inner, pl[:t.inner_len], [])
    except ValueError as x:
        fail(f'{w}: inner {x}')
    if e == 9:  # lowrank: out = f32(f64(inner) + sum_k A[:, k] B[k, :]), k ascending, in f64
        acc = out.astype(np.float64).reshape(rows, cols)
        na = t.blocks[0][0]
        a = _values(pl[t.inner_len:t.inner_len + na], t.rank, rows, t.bits, t.blocks[0], w + ': factor')
        b = _values(pl[t.inner_len + na:], t.rank, cols, t.bits, t.blocks[1], w + ': factor')
        a, b = a.astype(np.float64), b.astype(np.float64)
        for k in range(t.rank):
            acc += np.outer(a[k], b[k])
        return acc.astype(np.float32).ravel()
    # 10 patch: out[pos(u_i, t)] += value(i, t), one f32 addition each (the units are distinct)
    at = t.inner_len + t.vals[0]
    v = _values(pl[t.inner_len:at], *t.vn, t.bits, t.vals, w + ': values').reshape(t.count, t.ulen)
    u = _rice(pl[at:], t.count, t.rice_k, t.units)[:, None]
    k = np.arange(t.ulen)
    pos = u if t.unit == 0 else u * t.ulen + k if t.unit != 2 else k * cols + u
    out = out.copy()
    out[pos] = out[pos] + v
    return out


def _carry(t, codes, pl):
    """ans_grid's row-order carry (FORMAT.md): the rank X of the stored row order among the orders
    of the rows sorted by code is the first t.carry bytes of the scales in sorted order. Returns
    the scale bytes in row order."""
    n = t.shape[0]
    rows = codes.reshape(n, -1)
    order = np.lexsort(rows.T[::-1]) if rows.shape[1] else np.arange(n)  # column 0 first; stable
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    x = 0
    for r in range(n):
        x = x * (n - r) + int(np.count_nonzero(rank[r + 1:] < rank[r]))
    if x >> 8 * t.carry:
        fail('ans_grid: row order over carry')
    s = np.frombuffer(x.to_bytes(t.carry, 'little') + bytes(pl[:t.sb]), np.uint8).reshape(n, -1)
    return s[rank].tobytes()


def _rice(b, count, k, U):
    """patch positions: count Rice-coded gaps (k low bits) in LSB-first bits -> the units, strictly
    increasing. Code starts are followed by pointer doubling (log2(count) numpy steps)."""
    w = 'patch: positions'
    bits = np.unpackbits(np.frombuffer(b, np.uint8), bitorder='little')
    nb = len(bits)
    it = np.int32 if nb < 1 << 30 else np.int64
    z = np.minimum.accumulate(np.where(bits == 0, np.arange(nb, dtype=it), it(nb))[::-1])[::-1]  # next zero bit
    z = np.append(z, np.array([nb, nb], it))
    nxt = np.where(z < nb, np.minimum(z + (1 + k), nb + 1), nb + 1).astype(it)  # code start -> next; nb+1: past end
    s, j = np.zeros(1, it), nxt
    while len(s) <= count:
        s, j = np.append(s, j[s]), j[j]
    e = s[count]
    if e > nb:
        fail(f'{w}: the stream ends before gap {int(np.argmax(s > nb)) - 1} of {count}')
    if e <= nb - 8:
        fail(f'{w}: {(nb - e) // 8} bytes after the byte of the last gap')
    if bits[e:].any():
        fail(f'{w}: nonzero padding bits after the last gap')
    s = s[:count].astype(np.int64)
    q = z[s] - s
    if q.max() > U - 1 >> k:
        fail(f'{w}: unit {int(np.argmax(q > U - 1 >> k))} is past U = {U}')
    r = (bits[z[s][:, None] + 1 + np.arange(k)].astype(np.int64) << np.arange(k)).sum(1) if k else 0
    g = (q << k) + r + 1  # gap + 1 each: u_i = g_0 + ... + g_i - 1
    if g.sum(dtype=np.float64) > 2.0 * U + 1:  # (and the exact sum below cannot overflow)
        fail(f'{w}: the units run past U = {U}')
    u = np.cumsum(g) - 1
    if u[-1] >= U:
        fail(f'{w}: unit {int(np.argmax(u >= U))} is at {u[u >= U][0]}, past U = {U}')
    return u


def read(buf, max_elements=1 << 31):
    """Checks 1-4 of FORMAT.md: returns (version, metadata, sections, objects, tensors)."""
    size = len(buf)
    if size < 32:
        fail(f'file: {size} bytes, under the 32-byte minimum (truncated?)')
    if buf[:8] != b'GOLFPACK':
        fail('header: bad magic at offset 0 (not a .gpk file)')
    version, flags, msize = int.from_bytes(buf[8:10], 'little'), int.from_bytes(buf[10:12], 'little'), \
        int.from_bytes(buf[12:16], 'little')
    if not 1 <= version <= 3:
        fail(f'header: version {version} at offset 8 is not in [1, 3]')
    if flags:
        fail(f'header: flags {flags} at offset 10 has unknown bits')
    if buf[-4:] != b'GPKE':
        fail(f'footer: bad end magic at offset {size - 4} (truncated file?)')
    if int.from_bytes(buf[-12:-4], 'little') != xxh64(buf[:-12]):
        fail(f'footer: file XXH64 at offset {size - 12} does not match (the file is damaged)')
    if msize > size - 32:
        fail(f'header: manifest_size {msize} at offset 12 exceeds file_size - 32 = {size - 32}')
    if int.from_bytes(buf[16 + msize:20 + msize], 'little') != crc32c(buf[:16 + msize]):
        fail(f'manifest: CRC-32C at offset {16 + msize} does not match (header or manifest damaged)')
    r = Reader(buf[16:16 + msize], 16)
    meta = {}
    for _ in range(r.count('metadata_count')):
        at, key = r.p, r.str('key')
        if key in meta:
            r.bad('manifest: metadata key', f'duplicate key {key!r}', at)
        meta[key] = r.str('value')
    sections = []
    for i in range(r.count('section_count')):
        what = f'manifest: section {i}: codec'
        at, c = r.p, r.u8(what)
        codec, shuffle = c & 15, c >> 4  # back-end, byte-shuffle stride (version 3)
        if shuffle and version < 3:
            r.bad(what, f'shuffle stride {shuffle} needs version 3', at)
        if codec > 4:
            r.bad(what, f'unknown codec {codec}', at)
        if shuffle == 1:
            r.bad(what, 'shuffle stride 1 (0 or 2 to 15)', at)
        stored, raw = r.var('stored_size'), r.var('raw_size')
        if codec == 0 and raw != stored:
            r.bad(f'manifest: section {i}: raw_size', f'{raw} != stored_size {stored} for codec none')
        sections.append(NS(codec=codec, shuffle=shuffle, stored=stored, raw=raw, crc=r.u32('crc32c'), end=0,
                           payloads=0))

    def entry(kind, names, i):
        at, name = r.p, r.str(f'manifest: {kind} {i}: name')
        if name in names:
            r.bad(f'manifest: {kind} {i}: name', f'duplicate {kind} name {name!r}', at)
        names.add(name)
        return NS(name=name, what=f'manifest: {kind} {i} {name!r}: ')

    def payload(t):
        t.sec = r.var(t.what + 'section', 0, len(sections) - 1)
        s = sections[t.sec]
        at, t.off, t.len = r.p, r.var('offset'), r.var('length')
        if t.off + t.len > s.raw:
            r.bad(t.what + 'payload range', f'offset+length {t.off + t.len} > section raw_size {s.raw}', at)
        if t.off != s.end:
            r.bad(t.what + 'payload range', f'offset {t.off}, but the previous payload in section {t.sec} '
                  f'ends at {s.end}', at)
        s.end += t.len
        s.payloads += 1
        t.params = r.take(r.var('params_size'), 'params')

    objects, names, used = [], set(), set()
    if version > 1:
        for i in range(r.count('object_count')):
            o = entry('object', names, i)
            at, o.kind = r.p, r.var(o.what + 'kind')
            if o.kind:
                r.bad(o.what + 'kind', f'unknown object kind {o.kind}', at)
            payload(o)
            if o.params or o.len % 4:
                r.bad(o.what + 'kind', 'f32_values needs params_size 0 and a length divisible by 4', at)
            objects.append(o)
    tensors, names, total = [], set(), 0
    for i in range(r.count('tensor_count')):
        t = entry('tensor', names, i)
        t.shape, t.n = [], 1
        for d in range(r.u8(t.what + 'ndim', 0, 8)):
            at, dim = r.p, r.var(f'{t.what}dims[{d}]', 0, 1 << 40)
            if t.n and dim > (1 << 40) // t.n:
                r.bad(f'{t.what}dims[{d}]', 'numel overflows 2^40', at)
            t.shape.append(dim)
            t.n *= dim
        t.dtype = r.u8(t.what + 'dtype', 0, 2)
        at, t.enc = r.p, r.var(t.what + 'encoding')
        if t.enc > 10:
            r.bad(t.what + 'encoding', f'unknown encoding {t.enc}', at)
        payload(t)
        try:
            need, fixed = _size(t)
        except ValueError as x:
            r.bad(t.what + 'encoding', str(x), at)
        if need != t.len if fixed else t.len < need:
            r.bad(t.what + 'length', f'{t.len} but {NAMES[t.enc]} requires {"" if fixed else "at least "}'
                  f'{need} bytes')
        t.refs = []
        if version > 1:
            at, nref = r.p, r.count(t.what + 'ref_count')
            if nref != (t.enc == 8):
                r.bad(t.what + 'ref_count', f'{nref} but {NAMES[t.enc]} takes {int(t.enc == 8)}', at)
            t.refs = [r.var(t.what + 'ref', 0, len(objects) - 1) for _ in range(nref)]
            used.update(t.refs)
        elif t.enc == 8:
            r.bad(t.what + 'encoding', 'codebook needs shared objects (version 2)', at)
        total += t.n
        if total > max_elements:
            fail(f'unsupported: {total} elements, over the decoded-size limit max_elements = {max_elements}')
        tensors.append(t)
    if r.left():
        r.bad('manifest', f'{r.left()} trailing bytes after the last tensor entry')
    for k, o in enumerate(objects):
        if k not in used:
            fail(f'manifest: object {k} {o.name!r}: no tensor references it')
    at = 20 + msize
    for i, s in enumerate(sections):
        if not s.payloads:
            fail(f'manifest: section {i}: no tensor points into it')
        if s.end != s.raw:
            fail(f'manifest: section {i}: raw_size {s.raw} but its tensors cover {s.end} bytes')
        s.at = at
        at += s.stored
    if at + 12 != size:
        fail(f'file: 32 + manifest_size {msize} + section stored sizes {at - 20 - msize} != file size {size}')
    return version, meta, sections, objects, tensors


def section(buf, s, i=0):
    """Section i's raw bytes: CRC-32C of the stored bytes, then exactly raw_size bytes decompressed, then
    unshuffled (version 3)."""
    what = f'section {i} (codec {s.codec}, offset {s.at}): '
    b = buf[s.at:s.at + s.stored]
    if crc32c(b) != s.crc:
        fail(what + 'CRC-32C does not match the manifest (the section is damaged)')
    return _unshuffle(_decompress(b, s, what) if s.codec else b, s.shuffle)


def _unshuffle(b, k):
    """Inverse of the stride-k byte shuffle b = raw[0::k] + raw[1::k] + ... + raw[k-1::k]."""
    if not k:
        return b
    src, raw, at = np.frombuffer(bytes(b), np.uint8), np.empty(len(b), np.uint8), 0
    for p in range(k):
        n = len(raw[p::k])  # ceil((len - p) / k) bytes
        raw[p::k] = src[at:at + n]
        at += n
    return raw.tobytes()


def _decompress(b, s, what):
    mod = _need('zstandard', 'zstd') if s.codec == 2 else _need('brotli', 'brotli') if s.codec == 4 else None
    try:
        if s.codec == 4:
            out, ok = mod.decompress(bytes(b)), True  # raises on trailing data
        else:
            d = zlib.decompressobj() if s.codec == 1 else lzma.LZMADecompressor(lzma.FORMAT_XZ) if s.codec == 3 \
                else mod.ZstdDecompressor().decompressobj()
            out = d.decompress(bytes(b), s.raw + 1) if s.codec != 2 else d.decompress(bytes(b))
            ok = getattr(d, 'eof', True) and not getattr(d, 'unused_data', b'')
    except Exception as x:  # zlib.error, lzma.LZMAError, brotli.error, zstd.ZstdError
        fail(f'{what}malformed stream: {x}')
    if len(out) != s.raw or not ok:
        fail(f'{what}decompresses to {len(out)} bytes{"" if ok else " (truncated or trailing data)"}, '
             f'expected exactly raw_size {s.raw}')
    return out


def _need(module, codec):
    try:
        return __import__(module)
    except ImportError:
        fail(f'{codec} section: install the Python module "{module}" (pip install {module}) to decode it')


def decode(src, max_elements=1 << 31):
    """A .gpk (path or bytes) -> {tensor name: np.float32 array}, in manifest order."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        buf, origin = memoryview(src).cast('B'), '<bytes>'
    else:
        with open(src, 'rb') as f:
            buf, origin = memoryview(f.read()), str(src)
    try:
        _, _, sections, objects, tensors = read(buf, max_elements)
        raw = [section(buf, s, i) for i, s in enumerate(sections)]
        pls = [raw[t.sec][t.off:t.off + t.len] for t in tensors]
        _prep([u for t, pl in zip(tensors, pls) for u in _walk(t, pl)])  # every rANS stream at once
        out = {}
        for i, (t, pl) in enumerate(zip(tensors, pls)):
            objs = [(objects[k].kind, raw[objects[k].sec][objects[k].off:][:objects[k].len]) for k in t.refs]
            try:
                with np.errstate(all='ignore'):  # NaN / inf scales are data, not errors
                    out[t.name] = _decode(t, pl, objs).reshape(t.shape)
            except ValueError as x:
                fail(f'tensor {i} {t.name!r}: {x}')
        return out
    except ValueError as x:
        raise ValueError(f'{origin}: {x}') from None


if __name__ == '__main__':
    if len(sys.argv) not in (2, 3):
        sys.exit('usage: golfpack_decode.py MODEL.gpk [OUT.npz]')
    state = decode(sys.argv[1])
    if len(sys.argv) == 3:
        np.savez(sys.argv[2], **state)
    for name, v in state.items():
        print(name, list(v.shape))
