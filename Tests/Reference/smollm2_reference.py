#!/usr/bin/env python3
"""An independent SmolLM2 (Llama) implementation in numpy float64, straight from the GGUF file.

It shares nothing with the converter (convert_smollm2.py) or the engine: it reads the GGUF with the `gguf` package,
keeps llama.cpp's permuted Q/K rows and rotates adjacent pairs (2j, 2j+1) as ggml's llama RoPE does, runs its own
KV cache, and tokenizes with the `tokenizers` package (the GGUF's vocab and merges, the StarCoder pre-tokenizer:
digits split one by one, then GPT-2's byte-level regex), with ChatML's special tokens matched in the text as
Hugging Face's tokenizer does.

    smollm2_reference.py generate --gguf F --ids 1,2,3 --max-tokens N --seq-len S
        → {"tokens":[…], "stop_reason":"eos"|"length", "min_margin":x}
    smollm2_reference.py chat --gguf F --rounds rounds.json --max-tokens N --seq-len S [--system TEXT]
        → {"rounds":[{"prompt_ids","tokens","text","stop_reason","min_margin"}…]}
    smollm2_reference.py tokenize --gguf F --texts texts.json → {"ids":[[…]…]}

Stopping as docs/sim-models.md's reference: before each step, prompt + generated = seq_len stops with "length";
the next token equal to EOS (<|im_end|>) stops with "eos"; N generated tokens stop with "length".
"""

import argparse
import json
import sys

import numpy as np

sys.dont_write_bytecode = True


class Weights:
    def __init__(self, path: str):
        from gguf import GGUFReader, quants
        reader = GGUFReader(path)
        self.fields = {key: field.contents() for key, field in reader.fields.items()
                       if key.startswith(("llama.", "tokenizer.ggml."))}
        self.arrays = {t.name: quants.dequantize(t.data, t.tensor_type).astype(np.float64) for t in reader.tensors}
        f = self.fields
        self.layers = f["llama.block_count"]
        self.heads, self.kv_heads = f["llama.attention.head_count"], f["llama.attention.head_count_kv"]
        self.hidden = f["llama.embedding_length"]
        self.head_dim = self.hidden // self.heads
        self.theta = float(f["llama.rope.freq_base"])
        self.eps = float(f["llama.attention.layer_norm_rms_epsilon"])
        self.eos = f["tokenizer.ggml.eos_token_id"]
        self.output = self.arrays.get("output.weight", self.arrays["token_embd.weight"])

    def __getitem__(self, name):
        return self.arrays[name]


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope_adjacent_pairs(x, positions, theta):
    """ggml's llama RoPE (mode 0): pairs (2j, 2j+1) rotate by position · θ^(−2j/D). x: [n, heads, D]."""
    D = x.shape[-1]
    angles = positions[:, None] * theta ** (-np.arange(0, D, 2) / D)  # [n, D/2]
    cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = odd * cos + even * sin
    return out


class Model:
    """Causal Llama forward with a KV cache: `feed(ids)` appends tokens and returns the last token's logits."""

    def __init__(self, weights: Weights):
        self.w = weights
        self.keys = [np.zeros((0, weights.kv_heads, weights.head_dim)) for _ in range(weights.layers)]
        self.values = [np.zeros((0, weights.kv_heads, weights.head_dim)) for _ in range(weights.layers)]

    def feed(self, ids):
        w = self.w
        start = self.keys[0].shape[0]
        n = len(ids)
        positions = np.arange(start, start + n, dtype=np.float64)
        x = w["token_embd.weight"][np.array(ids)]
        group = w.heads // w.kv_heads
        for layer in range(w.layers):
            p = f"blk.{layer}."
            h = rms_norm(x, w[p + "attn_norm.weight"], w.eps)
            q = (h @ w[p + "attn_q.weight"].T).reshape(n, w.heads, w.head_dim)
            k = (h @ w[p + "attn_k.weight"].T).reshape(n, w.kv_heads, w.head_dim)
            v = (h @ w[p + "attn_v.weight"].T).reshape(n, w.kv_heads, w.head_dim)
            q, k = rope_adjacent_pairs(q, positions, w.theta), rope_adjacent_pairs(k, positions, w.theta)
            self.keys[layer] = np.concatenate([self.keys[layer], k])
            self.values[layer] = np.concatenate([self.values[layer], v])
            K, V = self.keys[layer], self.values[layer]
            total = K.shape[0]
            causal = np.arange(total)[None, :] <= (start + np.arange(n))[:, None]  # [n, total]
            out = np.empty((n, w.heads, w.head_dim))
            for head in range(w.heads):
                scores = q[:, head, :] @ K[:, head // group, :].T / np.sqrt(w.head_dim)
                scores = np.where(causal, scores, -np.inf)
                scores = np.exp(scores - scores.max(axis=1, keepdims=True))
                out[:, head, :] = (scores / scores.sum(axis=1, keepdims=True)) @ V[:, head // group, :]
            x = x + out.reshape(n, -1) @ w[p + "attn_output.weight"].T
            h = rms_norm(x, w[p + "ffn_norm.weight"], w.eps)
            gate = h @ w[p + "ffn_gate.weight"].T
            x = x + ((gate / (1 + np.exp(-gate))) * (h @ w[p + "ffn_up.weight"].T)) @ w[p + "ffn_down.weight"].T
        return rms_norm(x[-1], w["output_norm.weight"], w.eps) @ w.output.T


def greedy(weights: Weights, prompt, max_tokens: int, seq_len: int) -> dict:
    if not 0 < len(prompt) < seq_len:
        raise SystemExit(f"the prompt has {len(prompt)} tokens; it must have 1..{seq_len - 1}")
    model = Model(weights)
    tokens, margin, stop = [], float("inf"), "length"
    logits = model.feed(prompt)
    while True:
        top = np.sort(logits)[-2:]
        margin = min(margin, float(top[1] - top[0]))
        token = int(np.argmax(logits))
        if token == weights.eos:
            stop = "eos"
            break
        tokens.append(token)
        if len(tokens) >= max_tokens or len(prompt) + len(tokens) >= seq_len:
            break
        logits = model.feed([token])
    return {"tokens": tokens, "stop_reason": stop, "min_margin": margin}


def tokenizer(weights: Weights):
    """Hugging Face's tokenizer for SmolLM2 rebuilt from the GGUF: BPE with the GGUF's vocab and merges, the
    StarCoder pre-tokenizer (Digits(individual_digits) then ByteLevel), byte-level decoding, control tokens
    (GGUF type 3) as special tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    tokens = weights.fields["tokenizer.ggml.tokens"]
    types = weights.fields["tokenizer.ggml.token_type"]
    vocab = {token: index for index, token in enumerate(tokens)}
    merges = [tuple(merge.split(" ")) for merge in weights.fields["tokenizer.ggml.merges"]]
    result = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    result.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    result.decoder = decoders.ByteLevel()
    result.add_special_tokens([AddedToken(token, special=True, normalized=False)
                               for index, token in enumerate(tokens) if types[index] == 3])
    return result


def chatml_text(system, history, question) -> str:
    """SmolLM2's chat template (the GGUF's tokenizer.chat_template) with the generation prompt."""
    messages = [("system", system if system else "You are a helpful AI assistant named SmolLM, trained by Hugging Face")]
    for user, assistant in history:
        messages += [("user", user), ("assistant", assistant)]
    messages.append(("user", question))
    return "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages) + "<|im_start|>assistant\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["generate", "chat", "tokenize"])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--ids")
    parser.add_argument("--rounds")
    parser.add_argument("--texts")
    parser.add_argument("--system", default="")
    parser.add_argument("--max-tokens", type=int, default=100)
    parser.add_argument("--seq-len", type=int, default=256)
    args = parser.parse_args()
    if args.command == "tokenize":
        weights_fields = Weights.__new__(Weights)
        from gguf import GGUFReader
        reader = GGUFReader(args.gguf)
        weights_fields.fields = {k: f.contents() for k, f in reader.fields.items() if k.startswith("tokenizer.ggml.")}
        tok = tokenizer(weights_fields)
        with open(args.texts, encoding="utf-8") as handle:
            texts = json.load(handle)
        print(json.dumps({"ids": [tok.encode(text, add_special_tokens=False).ids for text in texts]}))
        return 0
    weights = Weights(args.gguf)
    if args.command == "generate":
        ids = [int(part) for part in args.ids.split(",")]
        print(json.dumps(greedy(weights, ids, args.max_tokens, args.seq_len)))
        return 0
    tok = tokenizer(weights)
    with open(args.rounds, encoding="utf-8") as handle:
        questions = json.load(handle)
    history, rounds = [], []
    for question in questions:
        prompt = tok.encode(chatml_text(args.system, history, question), add_special_tokens=False).ids
        answer = greedy(weights, prompt, args.max_tokens, args.seq_len)
        answer["text"] = tok.decode(answer["tokens"], skip_special_tokens=True)
        answer["prompt_ids"] = prompt
        rounds.append(answer)
        history.append((question, answer["text"]))
    print(json.dumps({"rounds": rounds}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
