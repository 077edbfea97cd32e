#!/usr/bin/env python3
"""Converts SmolLM2-135M-Instruct from its GGUF file into a split bmodel the simulated runtime runs.

    convert_smollm2.py --gguf SmolLM2-135M-Instruct.Q4_1.gguf --output build/smollm2/smollm2-135m [--seq-len 256]

writes <output>/smollm2-135m.bmodel (LLM-TPU's Llama layout: embedding, embedding_cache, block_N, block_cache_N,
lm_head; docs/sim-models.md), the GPT-2 byte-level BPE tokenizer (vocab.json, merges.txt, tokenizer_config.json)
and model.json. Build tooling, never shipped; see docs/smollm2.md for why each step is what it is.

The GGUF's tensors are dequantised to fp32 with the `gguf` package. llama.cpp's convert script permutes the rows
of Q and K so that ggml's rotation of adjacent pairs (2j, 2j+1) gives Hugging Face's rotate-half RoPE; the sim
runtime's nets rotate halves (j, j + D/2) like Hugging Face, so the permutation is undone here.
"""

import argparse
import json
import os
import sys
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import bmodel_writer as bw  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(HERE))
SCHEMA = os.path.join(REPOSITORY, "Tests", "Fixtures", "bmodel", "bmodel.fbs")
NAME = "smollm2-135m"
# The activations a compiled model of this size would need are a few MiB; what the demo needs is a model the
# factory heaps cannot hold (docs/smollm2.md "Memory"), so the file declares the same neuron block as the sim models.
NEURON_SIZE = bw.NEURON_SIZE


@dataclass
class Spec:
    """The fields bmodel_writer.param_words reads."""
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    seq_len: int
    layers: int
    layout: int = 1  # the llama2 layout (batch first, the cache block returns the new row)
    lm_head_token: bool = False  # lm_head returns logits; the engine samples on the host
    variant: int = 0


class GGUFModel:
    """The GGUF file's metadata and its tensors dequantised to fp32 [rows, columns] (numpy order: GGUF's ne1, ne0)."""

    def __init__(self, path: str):
        from gguf import GGUFReader
        self.reader = GGUFReader(path)
        self.tensors = {tensor.name: tensor for tensor in self.reader.tensors}
        arch = self.field("general.architecture")
        if arch != "llama":
            raise SystemExit(f"{path}: architecture {arch}, expected llama")
        self.layers = self.field("llama.block_count")
        self.hidden = self.field("llama.embedding_length")
        self.heads = self.field("llama.attention.head_count")
        self.kv_heads = self.field("llama.attention.head_count_kv")
        self.ffn = self.field("llama.feed_forward_length")
        self.head_dim = self.hidden // self.heads
        self.rope_theta = float(self.field("llama.rope.freq_base"))
        self.rms_eps = float(self.field("llama.attention.layer_norm_rms_epsilon"))
        self.vocab_size = len(self.field("tokenizer.ggml.tokens"))
        if abs(self.rms_eps - 1e-5) > 1e-9:
            raise SystemExit(f"{path}: rms eps {self.rms_eps}; the sim nets use 1e-5")

    def field(self, key: str):
        return self.reader.fields[key].contents()

    def has(self, name: str) -> bool:
        return name in self.tensors

    def tensor(self, name: str) -> np.ndarray:
        from gguf import quants
        tensor = self.tensors[name]
        return np.ascontiguousarray(quants.dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)


def unpermute_rotary(weight: np.ndarray, heads: int) -> np.ndarray:
    """Undoes llama.cpp's `permute` (convert_hf_to_gguf.py, LlamaModel.permute) on a [heads·D, H] weight: GGUF row
    (h, j, half) is Hugging Face row (h, half, j)."""
    rows, columns = weight.shape
    half = rows // heads // 2
    return weight.reshape(heads, half, 2, columns).swapaxes(1, 2).reshape(rows, columns)


def nets(spec: Spec, model: GGUFModel) -> list:
    S, H, KVH, D, V = spec.seq_len, spec.hidden, spec.kv_heads, spec.head_dim, model.vocab_size
    T, F32, I32 = bw.Tensor, bw.FP32, bw.INT32

    def words(op, layer=0):
        return bw.param_words(op, spec, V, layer, rope_theta=model.rope_theta)

    embed = [("embed", model.tensor("token_embd.weight"))]
    result = [
        bw.Net("embedding", [T("input_ids", I32, [1, S])], [T("input_states", F32, [1, S, H])],
               bw.OP_EMBEDDING, words(bw.OP_EMBEDDING), embed),
        bw.Net("embedding_cache", [T("input_ids", I32, [1, 1])], [T("input_states", F32, [1, 1, H])],
               bw.OP_EMBEDDING, words(bw.OP_EMBEDDING), embed),
    ]
    for layer in range(spec.layers):
        def weight(name):
            return model.tensor(f"blk.{layer}.{name}.weight")
        # The sim nets multiply a row by W [in, out]; GGUF (like PyTorch) stores [out, in].
        block = [
            ("attn_norm", weight("attn_norm")),
            ("wq", unpermute_rotary(weight("attn_q"), spec.heads).T),
            ("wk", unpermute_rotary(weight("attn_k"), spec.kv_heads).T),
            ("wv", weight("attn_v").T),
            ("wo", weight("attn_output").T),
            ("mlp_norm", weight("ffn_norm")),
            ("w_gate", weight("ffn_gate").T),
            ("w_up", weight("ffn_up").T),
            ("w_down", weight("ffn_down").T),
        ]
        kv = [1, S, KVH, D]
        result.append(bw.Net(
            f"block_{layer}",
            [T("input_states", F32, [1, S, H]), T("position_ids", I32, [1, S]), T("attention_mask", F32, [1, 1, S, S])],
            [T("hidden_states", F32, [1, S, H]), T("past_k", F32, kv), T("past_v", F32, kv)],
            bw.OP_PROMPT_BLOCK, words(bw.OP_PROMPT_BLOCK, layer), block))
        result.append(bw.Net(
            f"block_cache_{layer}",
            [T("input_states", F32, [1, 1, H]), T("position_ids", I32, [1, 1]),
             T("attention_mask", F32, [1, 1, 1, S + 1]), T("history_k", F32, kv), T("history_v", F32, kv)],
            [T("hidden_states", F32, [1, 1, H]), T("past_k", F32, [1, 1, KVH, D]), T("past_v", F32, [1, 1, KVH, D])],
            bw.OP_CACHE_BLOCK, words(bw.OP_CACHE_BLOCK, layer), block))
    # Tied embeddings: the GGUF has no output.weight; the lm_head multiplies by the embedding table's transpose.
    lm = model.tensor("output.weight") if model.has("output.weight") else model.tensor("token_embd.weight")
    result.append(bw.Net("lm_head", [T("hidden_states", F32, [1, H])], [T("m_logits", F32, [1, V])], bw.OP_LM_HEAD,
                         words(bw.OP_LM_HEAD), [("final_norm", model.tensor("output_norm.weight")), ("lm", lm.T)]))
    return result


def tokenizer_files(model: GGUFModel) -> dict:
    """vocab.json, merges.txt and tokenizer_config.json as Hugging Face writes them for a GPT-2 BPE tokenizer;
    the config names the control tokens (GGUF token type 3) and the end-of-turn token the model stops on."""
    tokens = model.field("tokenizer.ggml.tokens")
    types = model.field("tokenizer.ggml.token_type")
    vocab = {token: index for index, token in enumerate(tokens)}
    merges = "#version: 0.2\n" + "".join(merge + "\n" for merge in model.field("tokenizer.ggml.merges"))
    control = {str(index): {"content": token, "special": True} for index, token in enumerate(tokens) if types[index] == 3}
    config = {"added_tokens_decoder": control, "eos_token": tokens[model.field("tokenizer.ggml.eos_token_id")],
              "bos_token": tokens[model.field("tokenizer.ggml.bos_token_id")],
              "chat_template": model.field("tokenizer.chat_template")}
    return {
        "vocab.json": json.dumps(vocab, ensure_ascii=False).encode("utf-8"),
        "merges.txt": merges.encode("utf-8"),
        "tokenizer_config.json": json.dumps(config, ensure_ascii=False, indent=1).encode("utf-8"),
    }


def write_atomically(path: str, data: bytes) -> None:
    with open(path + ".tmp", "wb") as handle:
        handle.write(data)
    os.replace(path + ".tmp", path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--seq-len", type=int, default=256)
    args = parser.parse_args()
    model = GGUFModel(args.gguf)
    spec = Spec(hidden=model.hidden, heads=model.heads, kv_heads=model.kv_heads, head_dim=model.head_dim,
                ffn=model.ffn, seq_len=args.seq_len, layers=model.layers)
    os.makedirs(args.output, exist_ok=True)
    model_nets = nets(spec, model)
    write_atomically(os.path.join(args.output, f"{NAME}.bmodel"), bw.encode_bmodel(model_nets, "BM1684X", SCHEMA))
    for name, data in tokenizer_files(model).items():
        write_atomically(os.path.join(args.output, name), data)
    description = {
        "name": NAME, "family": "smollm2", "layers": spec.layers, "heads": spec.heads, "kv_heads": spec.kv_heads,
        "hidden": spec.hidden, "head_dim": spec.head_dim, "ffn": spec.ffn, "seq_len": spec.seq_len,
        "vocab_size": model.vocab_size, "table_rows": model.vocab_size, "rms_eps": model.rms_eps,
        "rope_theta": model.rope_theta, "eos_id": model.field("tokenizer.ggml.eos_token_id"),
        "lm_head_output": "logits", "nets": [net.name for net in model_nets], "gguf": os.path.basename(args.gguf),
    }
    write_atomically(os.path.join(args.output, "model.json"), json.dumps(description, indent=1).encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
