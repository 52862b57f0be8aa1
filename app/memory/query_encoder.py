"""One short text (a question) through the embedder's BERT layers, without the library's per-call
machinery: for a question of about ten tokens that machinery cost about as much as the arithmetic
(measured on one thread: 9.5-12.8 ms of CPU through transformers, 6.5-7 ms here, same vector to a
cosine of 0.9999). Batches (imports, new memories) keep the library's path."""

from __future__ import annotations

from typing import Any

import numpy as np

# A vector this close to the library's own for the same text: the path is the same model.
AGREEMENT = 0.999
_WEIGHTS = (0, 2, 6, 8)  # the matrices among a layer's tensors (query-key-value, out, up, down)


class QueryEncoder:
    """Mean-pooled, normalised BERT output for one text; built from a loaded `BertModel`."""

    def __init__(self, model: Any) -> None:
        import torch

        config = model.config
        state = {k: v.detach() for k, v in model.state_dict().items()}
        self.heads = int(config.num_attention_heads)
        self.eps = float(config.layer_norm_eps)
        self.word = state["embeddings.word_embeddings.weight"]
        self.position = state["embeddings.position_embeddings.weight"]
        self.token_type = state["embeddings.token_type_embeddings.weight"][0]
        self.norm = (state["embeddings.LayerNorm.weight"], state["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(int(config.num_hidden_layers)):
            p = f"encoder.layer.{i}."
            names = ("query", "key", "value")
            # One product for query, key and value instead of three.
            qkv_w = torch.cat([state[f"{p}attention.self.{n}.weight"] for n in names])
            qkv_b = torch.cat([state[f"{p}attention.self.{n}.bias"] for n in names])
            self.layers.append(
                (
                    qkv_w,
                    qkv_b,
                    state[p + "attention.output.dense.weight"],
                    state[p + "attention.output.dense.bias"],
                    state[p + "attention.output.LayerNorm.weight"],
                    state[p + "attention.output.LayerNorm.bias"],
                    state[p + "intermediate.dense.weight"],
                    state[p + "intermediate.dense.bias"],
                    state[p + "output.dense.weight"],
                    state[p + "output.dense.bias"],
                    state[p + "output.LayerNorm.weight"],
                    state[p + "output.LayerNorm.bias"],
                )
            )
        self.linear = self._packed_linear()

    def _packed_linear(self) -> Any:
        """oneDNN's linear on weights laid out for it once, if this torch has it and it gives
        the same numbers: the plain linear lays each weight out again on every call (one
        question measured 98 against 143 us per bfloat16 product). Else the plain linear."""
        import torch
        import torch.nn.functional as F

        try:
            pack = torch.ops.mkldnn._reorder_linear_weight
            run = torch.ops.mkldnn._linear_pointwise
            packed = [
                tuple(pack(t, 16) if i in _WEIGHTS else t for i, t in enumerate(layer))
                for layer in self.layers
            ]
            w, b = self.layers[0][0], self.layers[0][1]
            x = torch.randn(7, w.shape[1], dtype=w.dtype)
            with torch.inference_mode():
                mine, theirs = run(x, packed[0][0], b, "none", [], ""), F.linear(x, w, b)
                same = torch.allclose(mine, theirs, rtol=1e-2, atol=1e-2)
        except (AttributeError, RuntimeError):
            return F.linear
        if not same:
            return F.linear
        self.layers = packed
        return lambda x, weight, bias: run(x, weight, bias, "none", [], "")

    def __call__(self, input_ids: Any) -> np.ndarray:
        """`input_ids`: a 1-D tensor of token ids (with [CLS] and [SEP])."""
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            n = int(input_ids.shape[0])
            dim = int(self.word.shape[1])
            shape = (dim,)
            x = self.word[input_ids] + self.position[:n] + self.token_type
            x = F.layer_norm(x, shape, *self.norm, self.eps)
            linear = self.linear
            for (
                qkv_w,
                qkv_b,
                o_w,
                o_b,
                n1_w,
                n1_b,
                i_w,
                i_b,
                out_w,
                out_b,
                n2_w,
                n2_b,
            ) in self.layers:
                qkv = linear(x, qkv_w, qkv_b).view(n, 3, self.heads, dim // self.heads)
                q, k, v = qkv.permute(1, 2, 0, 3)
                attended = F.scaled_dot_product_attention(q, k, v).permute(1, 0, 2).reshape(n, dim)
                x = F.layer_norm(x + linear(attended, o_w, o_b), shape, n1_w, n1_b, self.eps)
                hidden = F.gelu(linear(x, i_w, i_b))
                x = F.layer_norm(x + linear(hidden, out_w, out_b), shape, n2_w, n2_b, self.eps)
            pooled = F.normalize(x.float().mean(0), dim=0)
        return pooled.numpy().astype(np.float32)


def build(model: Any) -> QueryEncoder | None:
    """The encoder for `model`, or None when it is not a BERT this file knows how to run."""
    if getattr(model.config, "model_type", "") != "bert":
        return None
    if getattr(model.config, "position_embedding_type", "absolute") != "absolute":
        return None
    if getattr(model.config, "hidden_act", "") != "gelu":
        return None
    try:
        return QueryEncoder(model)
    except (KeyError, AttributeError):
        return None
