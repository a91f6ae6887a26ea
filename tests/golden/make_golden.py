#!/usr/bin/env python3
"""Generate golden values for golfpack's GPT tests.

Run with Debian's PyTorch:  /usr/bin/python3 tests/golden/make_golden.py

Writes, next to this script:
  tiny_gpt.safetensors / tiny_gpt_golden.json                 (tied, GQA 4q/2kv, 3 layers)
  tiny_gpt_untied.safetensors / tiny_gpt_untied_golden.json   (untied lm_head, 2 layers, 4q/4kv)

Weights are random with non-trivial values everywhere (including the
projections that Parameter Golf zero-inits, and the control tensors), so
every path of the forward pass contributes. Output is deterministic: the
script pins torch to one thread and writes tensors / JSON in a fixed order.
"""

from __future__ import annotations

import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import reference_gpt as ref  # noqa: E402

SEED = 1234
BATCH = 2
SEQ = 12

TIED = {
    "vocab_size": 64, "num_layers": 3, "model_dim": 32, "num_heads": 4,
    "num_kv_heads": 2, "mlp_mult": 2, "tie_embeddings": True,
    "logit_softcap": 30.0, "rope_base": 10000.0,
}
UNTIED = {
    "vocab_size": 64, "num_layers": 2, "model_dim": 32, "num_heads": 4,
    "num_kv_heads": 4, "mlp_mult": 2, "tie_embeddings": False,
    "logit_softcap": 30.0, "rope_base": 10000.0,
}

MATRIX_STD = 0.3      # all Linear weights, including attn.proj / mlp.proj
EMBED_STD = 1.0       # tok_emb / lm_head: large enough that the softcap is visibly nonlinear
CONTROL_NOISE = 0.2   # control tensors = PG init + 0.2 * N(0, 1)


def random_state(config: dict) -> dict:
    """Random weights drawn from the global generator in a fixed (name-sorted) order."""
    shapes = ref.expected_shapes(config)
    L = config["num_layers"]
    d = config["model_dim"]
    init = {"skip_weights": torch.ones(ref.num_skip_weights(L), d)}
    for i in range(L):
        p = f"blocks.{i}."
        init[p + "attn.q_gain"] = torch.full((config["num_heads"],), 1.5)
        init[p + "attn_scale"] = torch.ones(d)
        init[p + "mlp_scale"] = torch.ones(d)
        init[p + "resid_mix"] = torch.stack([torch.ones(d), torch.zeros(d)])
    state = {}
    for name in sorted(shapes):
        shape = shapes[name]
        if name in init:
            state[name] = init[name] + CONTROL_NOISE * torch.randn(shape)
        elif name in ("tok_emb.weight", "lm_head.weight"):
            state[name] = EMBED_STD * torch.randn(shape)
        else:
            state[name] = MATRIX_STD * torch.randn(shape)
    return {k: v.float().contiguous() for k, v in state.items()}


def fmt(x: float) -> str:
    # json/float repr of the float32 value widened to double: shortest string
    # that round-trips, so parsing it and casting to float32 is exact.
    return json.dumps(float(x))


def write_golden_json(path, config, input_ids, target_ids, logits, loss, loss_per_token,
                      weights_file):
    lines = ["{"]
    lines.append(f'  "config": {json.dumps(config, sort_keys=True)},')
    lines.append(f'  "weights_file": {json.dumps(weights_file)},')
    lines.append('  "dtype": "float32",')
    lines.append(f'  "batch": {input_ids.shape[0]},')
    lines.append(f'  "seq_len": {input_ids.shape[1]},')
    lines.append(f'  "input_ids": {json.dumps(input_ids.tolist())},')
    lines.append(f'  "target_ids": {json.dumps(target_ids.tolist())},')
    lines.append('  "logits": [')
    B, T, _ = logits.shape
    for b in range(B):
        lines.append("    [")
        for t in range(T):
            row = ", ".join(fmt(v) for v in logits[b, t].tolist())
            lines.append(f"      [{row}]" + ("," if t + 1 < T else ""))
        lines.append("    ]" + ("," if b + 1 < B else ""))
    lines.append("  ],")
    lines.append(f'  "loss": {fmt(loss)},')
    lines.append('  "loss_per_token": [' + ", ".join(fmt(v) for v in loss_per_token.tolist()) + "]")
    lines.append("}")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


def make_one(config: dict, stem: str) -> None:
    torch.manual_seed(SEED)
    state = random_state(config)
    ids = torch.randint(0, config["vocab_size"], (BATCH, SEQ + 1))
    input_ids, target_ids = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()

    with torch.no_grad():
        logits = ref.forward_functional(config, state, input_ids)
        loss = ref.loss_from_logits(logits, target_ids)
        loss_tok = ref.loss_from_logits(logits, target_ids, reduction="none")

        # Self-check 1: the nn.Module (different attention code path) agrees.
        model = ref.GPT(config)
        missing, unexpected = model.load_state_dict(state, strict=True)
        assert not missing and not unexpected
        assert set(model.state_dict()) == set(state), "module names differ from PG names"
        m_logits = model.logits(input_ids)
        m_loss = model(input_ids, target_ids)
        diff = (m_logits - logits).abs().max().item()
        assert diff < 1e-5, f"module vs functional logits differ by {diff}"
        assert abs(m_loss.item() - loss.item()) < 1e-6, (m_loss.item(), loss.item())

        # Self-check 2: float64 evaluation of the same weights (numerical sanity).
        s64 = {k: v.double() for k, v in state.items()}
        logits64 = ref.forward_functional(config, s64, input_ids)
        diff64 = (logits64 - logits.double()).abs().max().item()
        assert diff64 < 1e-3, f"float32 vs float64 logits differ by {diff64}"

    # Softcap must be exercised (some |raw logit| well beyond the linear regime).
    assert logits.abs().max().item() > 5.0

    st_name = f"{stem}.safetensors"
    st_path = os.path.join(HERE, st_name)
    ref.save_safetensors(st_path, state)
    json_path = os.path.join(HERE, f"{stem}_golden.json")
    write_golden_json(json_path, config, input_ids, target_ids, logits, loss.item(),
                      loss_tok, st_name)

    # Self-check 3: round trip through the files.
    back = ref.load_safetensors(st_path)
    assert set(back) == set(state)
    for k in state:
        assert back[k].dtype == torch.float32 and torch.equal(back[k], state[k]), k
    with open(json_path, encoding="utf-8") as f:
        g = json.load(f)
    stored = torch.tensor(g["logits"], dtype=torch.float32)
    assert torch.equal(stored, logits), "logits did not round-trip through JSON exactly"
    tgt = torch.tensor(g["target_ids"])
    ce = ref.loss_from_logits(stored, tgt)
    assert ce.item() == g["loss"], (ce.item(), g["loss"])  # loss == CE of stored logits
    per_tok = torch.tensor(g["loss_per_token"], dtype=torch.float32)
    assert torch.allclose(per_tok.mean(), ce, atol=1e-6)
    with torch.no_grad():
        again = ref.forward_functional(g["config"], back, torch.tensor(g["input_ids"]))
    assert torch.equal(again, logits)

    print(f"{stem}: loss={loss.item()!r} max|logit|={logits.abs().max().item():.4f} "
          f"module_diff={diff:.3g} f64_diff={diff64:.3g}")


def main() -> None:
    torch.set_num_threads(1)  # bitwise-reproducible CPU reductions
    torch.use_deterministic_algorithms(True)
    make_one(TIED, "tiny_gpt")
    make_one(UNTIED, "tiny_gpt_untied")


if __name__ == "__main__":
    main()
