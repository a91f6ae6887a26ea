"""Independent Python reference of the Parameter Golf baseline GPT.

Written from the architecture description of OpenAI Parameter Golf's
train_gpt.py (classes RMSNorm, Rotary, apply_rotary_emb, CausalSelfAttention,
MLP, Block, GPT); it shares no code with golfpack's C++ model and is used to
produce golden test values and a Python-eager throughput baseline.

Runs on plain PyTorch >= 1.13, float32, CPU (no autocast, no
scaled_dot_product_attention, no F.rms_norm).

Contents:
  * rms_norm / rope tables / rope application helpers
  * forward_functional(config, state, input_ids) -> softcapped logits,
    operating directly on a state dict with Parameter Golf tensor names
  * GPT (nn.Module) with the same parameter names and Parameter Golf init,
    usable for training
  * a minimal safetensors reader / writer (struct + json, no package)

Config dict keys: vocab_size, num_layers, model_dim, num_heads, num_kv_heads,
mlp_mult, tie_embeddings, logit_softcap (default 30), rope_base (default 10000).
"""

from __future__ import annotations

import json
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULTS = {"logit_softcap": 30.0, "rope_base": 10000.0}


def full_config(config: dict) -> dict:
    cfg = dict(DEFAULTS)
    cfg.update(config)
    d, h, hkv = cfg["model_dim"], cfg["num_heads"], cfg["num_kv_heads"]
    if d % h != 0:
        raise ValueError("model_dim must be divisible by num_heads")
    if h % hkv != 0:
        raise ValueError("num_heads must be divisible by num_kv_heads")
    if (d // h) % 2 != 0:
        raise ValueError("head_dim must be even for RoPE")
    return cfg


# ---------------------------------------------------------------------------
# Numeric building blocks
# ---------------------------------------------------------------------------

def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """Weightless RMSNorm over the last dimension.

    train_gpt.py calls F.rms_norm(x, (x.size(-1),)) with eps=None; PyTorch then
    uses eps = torch.finfo(x.dtype).eps (1.1920929e-07 for float32) and computes
    x * rsqrt(mean(x^2) + eps). torch 1.13 has no F.rms_norm, so we spell it out
    with exactly that eps.
    """
    eps = torch.finfo(x.dtype).eps
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)


def rope_tables(seq_len: int, head_dim: int, base: float):
    """cos/sin tables [seq_len, head_dim/2], built in float32.

    frequency j = 1 / base^(2j / head_dim), angle(t, j) = t * frequency j.
    """
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim
    inv_freq = 1.0 / (base ** exponents)
    positions = torch.arange(seq_len, dtype=torch.float32)
    angles = positions[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE on the two halves of the head dimension.

    With a = first half, b = second half this yields
        [a*cos + b*sin, b*cos - a*sin]
    which is the sign convention of Parameter Golf's apply_rotary_emb (note: it
    is the transpose of the more common [a*cos - b*sin, b*cos + a*sin]; the two
    are NOT interchangeable for the attention scores).
    x: [..., T, head_dim]; cos/sin: [T, head_dim/2].
    """
    half = x.shape[-1] // 2
    a = x[..., :half]
    b = x[..., half:]
    return torch.cat([a * cos + b * sin, b * cos - a * sin], dim=-1)


def causal_attention_grouped(q, k, v):
    """Causal attention with grouped query heads, written by hand.

    q: [B, H, T, hd]; k, v: [B, Hkv, T, hd]. Query head h uses KV head
    h // (H / Hkv). Implemented by viewing q as [B, Hkv, G, T, hd].
    """
    bsz, nh, t, hd = q.shape
    nkv = k.shape[1]
    group = nh // nkv
    qg = q.reshape(bsz, nkv, group, t, hd)
    scores = torch.einsum("bkgtd,bksd->bkgts", qg, k) / math.sqrt(hd)
    future = torch.ones(t, t, dtype=torch.bool).triu(1)
    scores = scores.masked_fill(future, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    out = torch.einsum("bkgts,bksd->bkgtd", probs, v)
    return out.reshape(bsz, nh, t, hd)


def causal_attention_repeat(q, k, v):
    """Same maths as causal_attention_grouped, but by repeating KV heads
    (repeat_interleave, as SDPA's enable_gqa does) and using matmul."""
    nh, nkv = q.shape[1], k.shape[1]
    if nkv != nh:
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
    t, hd = q.shape[-2], q.shape[-1]
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
    scores = torch.where(mask, scores, torch.full_like(scores, float("-inf")))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def softcap(logits: torch.Tensor, cap: float) -> torch.Tensor:
    return cap * torch.tanh(logits / cap)


def num_skip_weights(num_layers: int) -> int:
    enc = num_layers // 2
    return min(enc, num_layers - enc)


# ---------------------------------------------------------------------------
# Functional forward on a Parameter Golf state dict
# ---------------------------------------------------------------------------

def expected_shapes(config: dict) -> dict:
    cfg = full_config(config)
    v, d, L = cfg["vocab_size"], cfg["model_dim"], cfg["num_layers"]
    hd = d // cfg["num_heads"]
    kv = cfg["num_kv_heads"] * hd
    hidden = cfg["mlp_mult"] * d
    shapes = {"tok_emb.weight": (v, d)}
    for i in range(L):
        p = f"blocks.{i}."
        shapes[p + "attn.c_q.weight"] = (d, d)
        shapes[p + "attn.c_k.weight"] = (kv, d)
        shapes[p + "attn.c_v.weight"] = (kv, d)
        shapes[p + "attn.proj.weight"] = (d, d)
        shapes[p + "attn.q_gain"] = (cfg["num_heads"],)
        shapes[p + "mlp.fc.weight"] = (hidden, d)
        shapes[p + "mlp.proj.weight"] = (d, hidden)
        shapes[p + "attn_scale"] = (d,)
        shapes[p + "mlp_scale"] = (d,)
        shapes[p + "resid_mix"] = (2, d)
    shapes["skip_weights"] = (num_skip_weights(L), d)
    if not cfg["tie_embeddings"]:
        shapes["lm_head.weight"] = (v, d)
    return shapes


def check_state(config: dict, state: dict) -> None:
    want = expected_shapes(config)
    if set(want) != set(state):
        missing = sorted(set(want) - set(state))
        extra = sorted(set(state) - set(want))
        raise ValueError(f"state dict keys mismatch: missing={missing} extra={extra}")
    for name, shape in want.items():
        if tuple(state[name].shape) != shape:
            raise ValueError(f"{name}: shape {tuple(state[name].shape)} != {shape}")


def forward_functional(config: dict, state: dict, input_ids: torch.Tensor) -> torch.Tensor:
    """Softcapped logits [B, T, vocab] from a state dict (float32)."""
    cfg = full_config(config)
    check_state(cfg, state)
    L = cfg["num_layers"]
    nh, nkv = cfg["num_heads"], cfg["num_kv_heads"]
    d = cfg["model_dim"]
    hd = d // nh
    bsz, t = input_ids.shape
    cos, sin = rope_tables(t, hd, cfg["rope_base"])

    def block(i, x, x0):
        p = f"blocks.{i}."
        mix = state[p + "resid_mix"]
        x = mix[0] * x + mix[1] * x0
        # attention
        h = rms_norm(x)
        q = (h @ state[p + "attn.c_q.weight"].t()).view(bsz, t, nh, hd).permute(0, 2, 1, 3)
        k = (h @ state[p + "attn.c_k.weight"].t()).view(bsz, t, nkv, hd).permute(0, 2, 1, 3)
        v = (h @ state[p + "attn.c_v.weight"].t()).view(bsz, t, nkv, hd).permute(0, 2, 1, 3)
        q = apply_rope(rms_norm(q), cos, sin)
        k = apply_rope(rms_norm(k), cos, sin)
        q = q * state[p + "attn.q_gain"].view(1, nh, 1, 1)
        y = causal_attention_grouped(q, k, v)
        y = y.permute(0, 2, 1, 3).reshape(bsz, t, d)
        x = x + state[p + "attn_scale"] * (y @ state[p + "attn.proj.weight"].t())
        # MLP: relu(fc x)^2 then proj
        h = rms_norm(x)
        u = torch.clamp(h @ state[p + "mlp.fc.weight"].t(), min=0.0)
        x = x + state[p + "mlp_scale"] * ((u * u) @ state[p + "mlp.proj.weight"].t())
        return x

    x = rms_norm(state["tok_emb.weight"][input_ids])
    x0 = x
    n_enc = L // 2
    n_dec = L - n_enc
    skips = []
    for i in range(n_enc):
        x = block(i, x, x0)
        skips.append(x)
    for j in range(n_dec):
        if skips:
            x = x + state["skip_weights"][j] * skips.pop()
        x = block(n_enc + j, x, x0)
    x = rms_norm(x)
    head = state["tok_emb.weight"] if cfg["tie_embeddings"] else state["lm_head.weight"]
    return softcap(x @ head.t(), cfg["logit_softcap"])


def loss_from_logits(logits: torch.Tensor, target_ids: torch.Tensor, reduction="mean"):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                           target_ids.reshape(-1), reduction=reduction)


# ---------------------------------------------------------------------------
# nn.Module version (Parameter Golf names and init)
# ---------------------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self, dim, num_heads, num_kv_heads, rope_base, q_gain_init=1.5):
        super().__init__()
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = dim // num_heads
        self.rope_base = rope_base
        kv_dim = num_kv_heads * self.head_dim
        self.c_q = nn.Linear(dim, dim, bias=False)
        self.c_k = nn.Linear(dim, kv_dim, bias=False)
        self.c_v = nn.Linear(dim, kv_dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.q_gain = nn.Parameter(torch.full((num_heads,), float(q_gain_init)))
        self._rope_cache = None

    def _rope(self, t, device):
        if self._rope_cache is None or self._rope_cache[0] != t:
            cos, sin = rope_tables(t, self.head_dim, self.rope_base)
            self._rope_cache = (t, cos.to(device), sin.to(device))
        return self._rope_cache[1], self._rope_cache[2]

    def forward(self, x):
        b, t, d = x.shape
        q = self.c_q(x).reshape(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.c_k(x).reshape(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.c_v(x).reshape(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        cos, sin = self._rope(t, x.device)
        q = apply_rope(rms_norm(q), cos, sin) * self.q_gain[None, :, None, None]
        k = apply_rope(rms_norm(k), cos, sin)
        y = causal_attention_repeat(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, dim, mlp_mult):
        super().__init__()
        self.fc = nn.Linear(dim, mlp_mult * dim, bias=False)
        self.proj = nn.Linear(mlp_mult * dim, dim, bias=False)

    def forward(self, x):
        return self.proj(F.relu(self.fc(x)).square())


class Block(nn.Module):
    def __init__(self, dim, num_heads, num_kv_heads, mlp_mult, rope_base):
        super().__init__()
        self.attn = Attention(dim, num_heads, num_kv_heads, rope_base)
        self.mlp = MLP(dim, mlp_mult)
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))
        self.resid_mix = nn.Parameter(torch.stack([torch.ones(dim), torch.zeros(dim)]))

    def forward(self, x, x0):
        x = self.resid_mix[0] * x + self.resid_mix[1] * x0
        x = x + self.attn_scale * self.attn(rms_norm(x))
        x = x + self.mlp_scale * self.mlp(rms_norm(x))
        return x


class GPT(nn.Module):
    """Baseline GPT. state_dict() names equal Parameter Golf's."""

    def __init__(self, config: dict, tied_embed_init_std: float = 0.005):
        super().__init__()
        cfg = full_config(config)
        self.config = cfg
        d, L = cfg["model_dim"], cfg["num_layers"]
        self.tok_emb = nn.Embedding(cfg["vocab_size"], d)
        self.num_encoder_layers = L // 2
        self.num_decoder_layers = L - L // 2
        self.skip_weights = nn.Parameter(torch.ones(num_skip_weights(L), d))
        self.blocks = nn.ModuleList(
            Block(d, cfg["num_heads"], cfg["num_kv_heads"], cfg["mlp_mult"], cfg["rope_base"])
            for _ in range(L))
        self.lm_head = None if cfg["tie_embeddings"] else nn.Linear(d, cfg["vocab_size"], bias=False)
        # Parameter Golf init: tied embedding ~ N(0, 0.005); untied embedding keeps
        # nn.Embedding's N(0, 1); attn.proj, mlp.proj and lm_head are zero; the
        # other Linears keep PyTorch's default (kaiming-uniform) init.
        with torch.no_grad():
            if cfg["tie_embeddings"]:
                nn.init.normal_(self.tok_emb.weight, mean=0.0, std=tied_embed_init_std)
            for blk in self.blocks:
                nn.init.zeros_(blk.attn.proj.weight)
                nn.init.zeros_(blk.mlp.proj.weight)
            if self.lm_head is not None:
                nn.init.zeros_(self.lm_head.weight)

    def logits(self, input_ids):
        x = rms_norm(self.tok_emb(input_ids))
        x0 = x
        skips = []
        for i in range(self.num_encoder_layers):
            x = self.blocks[i](x, x0)
            skips.append(x)
        for j in range(self.num_decoder_layers):
            if skips:
                x = x + self.skip_weights[j] * skips.pop()
            x = self.blocks[self.num_encoder_layers + j](x, x0)
        x = rms_norm(x)
        if self.lm_head is None:
            raw = F.linear(x, self.tok_emb.weight)
        else:
            raw = self.lm_head(x)
        return softcap(raw, self.config["logit_softcap"])

    def forward(self, input_ids, target_ids):
        return loss_from_logits(self.logits(input_ids), target_ids)


# ---------------------------------------------------------------------------
# Minimal safetensors reader / writer (no safetensors package)
# ---------------------------------------------------------------------------
# Layout: u64 little-endian header length N, then N bytes of UTF-8 JSON
# {name: {"dtype", "shape", "data_offsets": [begin, end]}, optional
# "__metadata__": {str: str}}, then the raw little-endian tensor bytes; offsets
# are relative to the start of that byte buffer. We pad the JSON with spaces so
# that N is a multiple of 8.

_ST_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
    "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
    "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
_ST_NAMES = {v: k for k, v in _ST_DTYPES.items()}


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous()
    if t.numel() == 0:
        return b""
    # reinterpret as raw bytes (host is little-endian on every supported target)
    return t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.dtype != torch.bool \
        else t.to(torch.uint8).numpy().tobytes()


def save_safetensors(path: str, tensors: dict, metadata: dict | None = None) -> None:
    """Write tensors in name order (deterministic output)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _ST_NAMES:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        data = _tensor_bytes(t)
        header[name] = {"dtype": _ST_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for data in blobs:
            f.write(data)


def load_safetensors(path: str, with_metadata: bool = False):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("file too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError("header length exceeds file size")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    buf = raw[8 + n:]
    metadata = header.pop("__metadata__", None)
    out = {}
    spans = []
    for name, info in header.items():
        dtype = _ST_DTYPES[info["dtype"]]
        shape = [int(s) for s in info["shape"]]
        begin, end = (int(o) for o in info["data_offsets"])
        numel = 1
        for s in shape:
            numel *= s
        itemsize = torch.empty((), dtype=dtype).element_size()
        if end - begin != numel * itemsize or begin < 0 or end > len(buf):
            raise ValueError(f"{name}: bad data_offsets {begin}..{end}")
        spans.append((begin, end))
        chunk = bytearray(buf[begin:end])
        if numel == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            t = torch.frombuffer(chunk, dtype=torch.uint8).view(dtype).reshape(shape).clone()
        out[name] = t
    spans.sort()
    pos = 0
    for begin, end in spans:
        if begin != pos:
            raise ValueError("tensor data has gaps or overlaps")
        pos = end
    if pos != len(buf):
        raise ValueError("trailing bytes after tensor data")
    return (out, metadata) if with_metadata else out
