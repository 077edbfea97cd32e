#!/usr/bin/env python3
"""The independent reference for the sim models (docs/sim-models.md).

Reads weights.npz and model.json (never the bmodel) and decodes greedily by recomputing plain causal attention
over the whole sequence, positions 0..n-1, at every step: no KV cache, no masks, float64.

  reference.py generate --model-dir D --ids 1,2,3 --max-tokens N
      {"tokens": [...], "stop_reason": "eos|length", "min_margin": x}
  reference.py chat --model-dir D --family chatglm2|llama2|wizardcoder|qwen2 --rounds rounds.json --max-tokens N
                    [--system TEXT] [--prefill TEXT (qwen2)]
  reference.py tokenize --model-dir D --texts texts.json
      qwen2-sim: the ids Hugging Face's `tokenizers` gives each text with the model's tokenizer.json
      {"ids": [[...], ...]}
      rounds.json is a JSON array of user messages, one per round;
      {"rounds": [{"prompt_ids": [...], "tokens": [...], "text": "...", "stop_reason": ..., "min_margin": x}],
       "min_margin": x}

Generation stops at EOS (not included in the tokens), after N tokens, or when prompt + generated tokens reach
seq_len. min_margin is the smallest gap between the best and second-best logit over the steps taken.
The prompt formats are those of docs/sim-models.md, "Prompt formats (what the engine must build)".
"""

import argparse
import json
import os
import sys

import numpy as np


class Model:
    def __init__(self, directory: str):
        with open(os.path.join(directory, "model.json"), encoding="utf-8") as handle:
            self.config = json.load(handle)
        with np.load(os.path.join(directory, "weights.npz")) as archive:
            self.weights = {name: archive[name].astype(np.float64) for name in archive.files}
        self.directory = directory
        c = self.config
        self.heads, self.kv_heads, self.head_dim = c["heads"], c["kv_heads"], c["head_dim"]
        if c["family"] == "wizardcoder":
            self.eps = c["layer_norm_eps"]
            self.logits = self.wizardcoder_logits
        else:
            self.eps, self.theta = c["rms_eps"], c["rope_theta"]

    def layernorm(self, x, gain, bias):
        mean = np.mean(x, axis=-1, keepdims=True)
        variance = np.mean((x - mean) ** 2, axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + self.eps) * gain + bias

    @staticmethod
    def gelu(x):
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))

    def wizardcoder_logits(self, ids):
        """WizardCoder-like: learned positions, pre-LayerNorm, multi-query attention, GELU MLP, final LayerNorm."""
        w = self.weights
        n, D = len(ids), self.head_dim
        x = w["embed"][np.asarray(ids)] + w["pos_embed"][np.arange(n)]
        causal = np.tril(np.ones((n, n), dtype=bool))
        for layer in range(self.config["layers"]):
            p = f"block_{layer}."
            h = self.layernorm(x, w[p + "attn_norm"], w[p + "attn_norm_bias"])
            q = (h @ w[p + "wq"]).reshape(n, self.heads, D)
            k, v = h @ w[p + "wk"], h @ w[p + "wv"]  # one key/value head shared by every query head
            heads = []
            for head in range(self.heads):
                scores = q[:, head] @ k.T / np.sqrt(D)
                scores = np.where(causal, scores, -np.inf)
                scores -= scores.max(axis=1, keepdims=True)
                probabilities = np.exp(scores)
                probabilities /= probabilities.sum(axis=1, keepdims=True)
                heads.append(probabilities @ v)
            x = x + np.concatenate(heads, axis=1) @ w[p + "wo"]
            h2 = self.layernorm(x, w[p + "mlp_norm"], w[p + "mlp_norm_bias"])
            x = x + self.gelu(h2 @ w[p + "w_up"]) @ w[p + "w_down"]
        return self.layernorm(x[-1], w["final_norm"], w["final_norm_bias"]) @ w["lm"]

    def rmsnorm(self, x, gain):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * gain

    def rope(self, x):
        """x: [n, heads, D]; rotate-half RoPE with positions 0..n-1."""
        n, half = x.shape[0], self.head_dim // 2
        frequencies = self.theta ** (-2.0 * np.arange(half) / self.head_dim)
        angles = np.arange(n)[:, None] * frequencies[None, :]
        cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
        first, second = x[..., :half], x[..., half:]
        return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)

    def logits(self, ids):
        """The lm_head's scores for the token after `ids`."""
        w = self.weights
        n, D = len(ids), self.head_dim
        x = w["embed"][np.asarray(ids)]
        causal = np.tril(np.ones((n, n), dtype=bool))
        group = self.heads // self.kv_heads
        for layer in range(self.config["layers"]):
            p = f"block_{layer}."
            h = self.rmsnorm(x, w[p + "attn_norm"])
            q, k, v = h @ w[p + "wq"], h @ w[p + "wk"], h @ w[p + "wv"]
            if p + "bq" in w:  # Qwen's q/k/v projections have biases, added before RoPE
                q, k, v = q + w[p + "bq"], k + w[p + "bk"], v + w[p + "bv"]
            q = self.rope(q.reshape(n, self.heads, D))
            k = self.rope(k.reshape(n, self.kv_heads, D))
            v = v.reshape(n, self.kv_heads, D)
            heads = []
            for head in range(self.heads):
                kv = head // group
                scores = q[:, head] @ k[:, kv].T / np.sqrt(D)
                scores = np.where(causal, scores, -np.inf)
                scores -= scores.max(axis=1, keepdims=True)
                probabilities = np.exp(scores)
                probabilities /= probabilities.sum(axis=1, keepdims=True)
                heads.append(probabilities @ v[:, kv])
            x = x + np.concatenate(heads, axis=1) @ w[p + "wo"]
            h2 = self.rmsnorm(x, w[p + "mlp_norm"])
            gate = h2 @ w[p + "w_gate"]
            x = x + ((gate / (1.0 + np.exp(-gate))) * (h2 @ w[p + "w_up"])) @ w[p + "w_down"]
        return self.rmsnorm(x[-1], w["final_norm"]) @ w["lm"]

    def generate(self, prompt, max_tokens):
        stops, seq_len = self.config.get("stop_ids", [self.config["eos_id"]]), self.config["seq_len"]
        if not prompt or len(prompt) >= seq_len:
            raise SystemExit(f"the prompt has {len(prompt)} tokens; it needs 1 to {seq_len - 1}")
        ids, tokens, margin, reason = list(prompt), [], float("inf"), "length"
        while len(tokens) < max_tokens and len(ids) < seq_len:
            scores = self.logits(ids)
            top = int(np.argmax(scores))  # the lowest index on ties, like the device's argmax
            second = np.partition(scores, -2)[-2]
            margin = min(margin, float(scores[top] - second))
            if top in stops:
                reason = "eos"
                break
            tokens.append(top)
            ids.append(top)
        return {"tokens": tokens, "stop_reason": reason, "min_margin": margin if tokens or reason == "eos" else None}


def chatglm2_prompt(sp, config, history, query):
    text = "".join(f"[Round {i}]\n\n问：{q}\n\n答：{a}\n\n" for i, (q, a) in enumerate(history, 1))
    text += f"[Round {len(history) + 1}]\n\n问：{query}\n\n答："
    special = config["special_tokens"]
    return [special["[gMASK]"], special["sop"]] + sp.encode(text)


def llama2_prompt(sp, config, history, query, system):
    bos, eos = config["bos_id"], config["eos_id"]
    users = [q for q, _ in history] + [query]
    if system:
        users[0] = f"<<SYS>>\n{system}\n<</SYS>>\n\n{users[0]}"
    ids = []
    for user, (_, answer) in zip(users, history):
        ids += [bos] + sp.encode(f"[INST] {user} [/INST] {answer} ") + [eos]
    return ids + [bos] + sp.encode(f"[INST] {users[-1]} [/INST]")


ALPACA_HEADER = ("Below is an instruction that describes a task. Write a response that appropriately completes "
                 "the request.")


def wizardcoder_text(history, query, system):
    """The Alpaca format, rounds chained in one text (docs/sim-models.md, "Prompt formats")."""
    text = system or ALPACA_HEADER
    for user, answer in history:
        text += f"\n\n### Instruction:\n{user}\n\n### Response:{answer}"
    return text + f"\n\n### Instruction:\n{query}\n\n### Response:"


def wizardcoder_chat(model, queries, max_tokens, system):
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer(os.path.join(model.directory, "vocab.json"),
                                      os.path.join(model.directory, "merges.txt"), add_prefix_space=False)
    history, rounds = [], []
    for query in queries:
        prompt = tokenizer.encode(wizardcoder_text(history, query, system)).ids
        result = model.generate(prompt, max_tokens)
        text = tokenizer.decode(result["tokens"])
        rounds.append({"prompt_ids": prompt, "text": text, **result})
        history.append((query, text))
    return rounds


def chatml_text(history, query, system, prefill=None):
    """ChatML as Qwen's chat template writes it; with `prefill`, the last message is the assistant's partial
    answer, left open (no <|im_end|>) so that the model continues it."""
    text = f"<|im_start|>system\n{system}<|im_end|>\n"
    for user, answer in history:
        text += f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n"
    text += f"<|im_start|>user\n{query}<|im_end|>\n<|im_start|>assistant\n"
    return text + (prefill or "")


def qwen_chat(model, queries, max_tokens, system, prefill):
    """Hugging Face's tokenizer on the whole ChatML text: it matches the control tokens in the text itself."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(model.directory, "tokenizer.json"))
    history, rounds = [], []
    for index, query in enumerate(queries):
        last = index == len(queries) - 1
        text = chatml_text(history, query, system or model.config["default_system"], prefill if last else None)
        prompt = tokenizer.encode(text, add_special_tokens=False).ids
        result = model.generate(prompt, max_tokens)
        answer = tokenizer.decode(result["tokens"], skip_special_tokens=True)
        rounds.append({"prompt_ids": prompt, "text": answer, **result})
        history.append((query, answer))
    return rounds


def chat(model, family, queries, max_tokens, system, prefill=None):
    import sentencepiece

    if family != model.config["family"]:
        raise SystemExit(f"{model.config['name']} is a {model.config['family']} model, not {family}")
    if prefill is not None and family != "qwen2":
        raise SystemExit("--prefill is implemented for the qwen2 (ChatML) family only")
    if family == "qwen2":
        rounds = qwen_chat(model, queries, max_tokens, system, prefill)
        margins = [r["min_margin"] for r in rounds if r["min_margin"] is not None]
        return {"rounds": rounds, "min_margin": min(margins) if margins else None}
    if family == "wizardcoder":
        rounds = wizardcoder_chat(model, queries, max_tokens, system)
        margins = [r["min_margin"] for r in rounds if r["min_margin"] is not None]
        return {"rounds": rounds, "min_margin": min(margins) if margins else None}
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(model.directory, "tokenizer.model"))
    if family == "chatglm2" and system:
        raise SystemExit("the chatglm2 prompt format has no system prompt")
    history, rounds = [], []
    for query in queries:
        if family == "chatglm2":
            prompt = chatglm2_prompt(sp, model.config, history, query)
        else:
            prompt = llama2_prompt(sp, model.config, history, query, system)
        result = model.generate(prompt, max_tokens)
        # ChatGLM2's special ids (>= the SentencePiece vocabulary) are dropped when decoding, as its tokenizer does.
        text = sp.decode([t for t in result["tokens"] if t < sp.get_piece_size()])
        rounds.append({"prompt_ids": prompt, "text": text, **result})
        history.append((query, text))
    margins = [r["min_margin"] for r in rounds if r["min_margin"] is not None]
    return {"rounds": rounds, "min_margin": min(margins) if margins else None}


def main():
    parser = argparse.ArgumentParser(description="Greedy reference decoding for the sim models.")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="greedy tokens after a prompt of token ids")
    generate.add_argument("--model-dir", required=True)
    generate.add_argument("--ids", required=True, help="comma-separated prompt ids")
    generate.add_argument("--max-tokens", type=int, required=True)
    talk = commands.add_parser("chat", help="multi-round chat with the family's prompt format")
    talk.add_argument("--model-dir", required=True)
    talk.add_argument("--family", required=True, choices=["chatglm2", "llama2", "wizardcoder", "qwen2"])
    talk.add_argument("--rounds", required=True, help="JSON file: an array of user messages")
    talk.add_argument("--max-tokens", type=int, required=True)
    talk.add_argument("--system", default="")
    talk.add_argument("--prefill", default=None,
                      help="qwen2: the last round's answer begins with this text (an assistant prefill)")
    tokenize = commands.add_parser("tokenize", help="ids of texts with the model's tokenizer.json (qwen2-sim)")
    tokenize.add_argument("--model-dir", required=True)
    tokenize.add_argument("--texts", required=True, help="JSON file: an array of strings")
    options = parser.parse_args()
    if options.command == "tokenize":
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(os.path.join(options.model_dir, "tokenizer.json"))
        with open(options.texts, encoding="utf-8") as handle:
            texts = json.load(handle)
        json.dump({"ids": [tokenizer.encode(text, add_special_tokens=False).ids for text in texts]}, sys.stdout)
        sys.stdout.write("\n")
        return
    model = Model(options.model_dir)
    if options.command == "generate":
        result = model.generate([int(part) for part in options.ids.split(",") if part.strip()], options.max_tokens)
    else:
        with open(options.rounds, encoding="utf-8") as handle:
            queries = json.load(handle)
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise SystemExit(f"{options.rounds}: expected a JSON array of strings")
        result = chat(model, options.family, queries, options.max_tokens, options.system, options.prefill)
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
