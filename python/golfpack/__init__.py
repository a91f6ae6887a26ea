"""golfpack for Python: pack a Parameter Golf state dict into a .gpk artifact.

    import golfpack
    calib = golfpack.calibrate(hessians, tokens)        # {site: sum of x^T x} over `tokens` tokens
    data, report = golfpack.pack(model.state_dict(), calib, budget=16_000_000 - code_bytes)
    state = golfpack.unpack(data)                       # {name: torch.Tensor}
    info = golfpack.inspect(data)

Sites are named by golfpack.hessian_site(weight_name) ("blocks.0.attn_in",
"blocks.0.mlp_in", ..., "head_in"). Tensors may be torch tensors (any device,
float32/float16/bfloat16) or numpy arrays; they are handed to the C++ packer
as float32 with their original dtype recorded in the artifact. Errors from the
packer or the decoder (bad input, corrupt bytes) raise ValueError.
"""
import json

import numpy as np

from ._golfpack import Calibration, decoder_code_bytes, hessian_site, recipe_names
from . import _golfpack as _gp

__all__ = ["Calibration", "calibrate", "load_calibration", "hessian_site", "pack", "unpack", "inspect",
           "recipe_names", "decoder_code_bytes"]

try:  # torch is optional: without it unpack returns numpy arrays
    import torch as _torch
except ImportError:  # pragma: no cover
    _torch = None

_TORCH_DTYPES = {}
if _torch is not None:
    _TORCH_DTYPES = {_torch.float32: "F32", _torch.float16: "F16", _torch.bfloat16: "BF16"}
_NUMPY_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}


def _is_torch(x):
    return _torch is not None and isinstance(x, _torch.Tensor)


def _f64(x):
    if _is_torch(x):
        return x.detach().double().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))


def _f32_with_dtype(name, x):
    """(float32 numpy array, "F32"/"F16"/"BF16") for a tensor of a state dict."""
    if _is_torch(x):
        dt = _TORCH_DTYPES.get(x.dtype)
        if dt is None:
            raise ValueError(f"pack: tensor {name!r} has dtype {x.dtype}; golfpack packs float32/float16/bfloat16")
        return np.ascontiguousarray(x.detach().float().cpu().numpy()), dt
    a = np.asarray(x)
    dt = _NUMPY_DTYPES.get(a.dtype)
    if dt is None:
        if a.dtype.kind != "f":
            raise ValueError(f"pack: tensor {name!r} has dtype {a.dtype}; golfpack packs floating-point tensors")
        dt = "F32"  # float64 and friends: stored as float32
    return np.ascontiguousarray(a, dtype=np.float32), dt


def calibrate(hessians, tokens, sensitivity=None, seq_len=0, token_counts=None):
    """A Calibration from H = sum of x^T x per input site over `tokens` tokens.

    hessians: {site name (golfpack.hessian_site(weight)): square array}, numpy
    or torch (any device); sensitivity: optional {weight name: fitted loss
    sensitivity} as `golfpack calibrate --sensitivity-tokens` fits them;
    token_counts: optional occurrences of each token id among the inputs
    (length vocab): rd then weighs the tied embedding's rows by frequency.
    """
    hs = {str(k): _f64(v) for k, v in hessians.items()}
    sens = {str(k): float(v) for k, v in (sensitivity or {}).items()}
    counts = [] if token_counts is None else [float(c) for c in _f64(token_counts).reshape(-1)]
    return _gp.calibrate(hs, int(tokens), sens, int(seq_len), counts)


def load_calibration(path):
    """A Calibration read from a `golfpack calibrate` file (or Calibration.save)."""
    return _gp.load_calibration(str(path))


def pack(state_dict, calib, budget, recipe="rd", code_bytes=None, bits_back=False):
    """Packs a state dict; returns (artifact bytes, report dict).

    recipe "rd" fills `budget` counted bytes (file + code_bytes) exactly (at
    most 0.1% under) with scalar grids and a step per row; "rd:all" prices
    every representation path (slower, better on small models) and
    "rd:grid,lqer,..." the paths named. Rule-based recipes (named ones,
    golfpack.recipe_names(): pg-int8-zlib, gptq-int6-brotli, record-lqer:int5,
    ..., or "rules:KEY=SPEC,..." factory strings) refuse to exceed a budget > 0.
    code_bytes defaults to golfpack's counted decoder sources. For rd the
    report carries the byte-ROI report under "rd". bits_back=True (rd only)
    stores every MLP's hidden units in the order that carries the first bytes
    of its fc scales (`golfpack pack --bits-back`; rd runs twice); the report's
    "bits_back_bytes" says how many file bytes that saved.
    """
    tensors = []
    for name, x in state_dict.items():
        a, dt = _f32_with_dtype(name, x)
        tensors.append((str(name), a, dt))
    data, report, rd_json = _gp.pack(tensors, calib, int(budget or 0), str(recipe),
                                     -1 if code_bytes is None else int(code_bytes), bool(bits_back))
    if rd_json:
        report["rd"] = json.loads(rd_json)
    return data, report


def unpack(data, as_numpy=False):
    """{name: tensor} decoded from .gpk bytes, in the recorded original dtype
    (torch tensors; float32 numpy arrays if torch is missing or as_numpy)."""
    out = {}
    for name, _shape, arr, dt in _gp.unpack(bytes(data) if not isinstance(data, (bytes, bytearray)) else data):
        if _torch is None or as_numpy:
            out[name] = arr
            continue
        t = _torch.from_numpy(arr)
        if dt == "F16":
            t = t.to(_torch.float16)
        elif dt == "BF16":
            t = t.to(_torch.bfloat16)
        out[name] = t
    return out


def inspect(data, code_bytes=None):
    """Format version, file/counted bytes, metadata and one row per tensor
    (name, shape, dtype, encoding name, section codec, payload and accounted bytes)."""
    return _gp.inspect(data, -1 if code_bytes is None else int(code_bytes))
