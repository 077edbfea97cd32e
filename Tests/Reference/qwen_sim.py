"""qwen2-sim: a tiny model with the nets, tokenizer files and chat format of sophgo/LLM-TPU's Qwen1.5 / Qwen2
bmodels (docs/qwen.md, docs/sim-models.md "qwen2-sim").

- Tokenizer: Qwen2's format, trained here on corpus.txt with the `tokenizers` package (nothing is downloaded):
  byte-level BPE, NFC normaliser, Qwen2's pre-tokenizer (a Split on QWEN2_PATTERN, then ByteLevel without its
  own regex), no unk, no byte fallback; the control tokens <|endoftext|>, <|im_start|>, <|im_end|> are added
  tokens numbered after the BPE vocabulary, as in Qwen's (151643..151645). Written as Qwen ships it in
  LLM-TPU's token_config/: tokenizer.json, vocab.json (the BPE vocabulary only) and tokenizer_config.json
  (eos_token <|im_end|>, the chat template); no merges.txt.
- Nets: LLM-TPU's Llama layout (Qwen's export_onnx.py uses the same tensor names and shapes), lm_head returning
  logits over a table padded past the tokenizer's ids (Qwen pads 151646 ids to 151936 rows), q/k/v biases
  (binary_param word 15 bit 4) and a bfloat16 attention mask as Qwen2's (bit 8; the other tensors stay fp32),
  plus the sampling heads greedy_head and penalty_sample_head.
- Weights: sim_weights' recipe (markers: the control tokens and the pieces holding a newline; EOS <|im_end|>)
  plus small random biases, zero where layer 0's recency head reads its query, key and value.
"""

from dataclasses import dataclass
import json

import numpy as np

import sim_weights

# Qwen2's pre-tokenizer regex (tokenizer.json "pre_tokenizer": Sequence[Split(Regex, Isolated), ByteLevel
# (use_regex false)]; llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2 lists the same pattern).
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CONTROL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
BPE_VOCAB_SIZE = 1024
ROW_MULTIPLE = 8  # the table is padded to a multiple of this past the ids (push allows 1 % padding)
DEFAULT_SYSTEM = "You are a helpful assistant."
# Qwen2-Instruct's tokenizer_config.json chat_template (LLM-TPU models/Qwen2/support/token_config/).
CHAT_TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                 "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
                 "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
                 "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
RMS_EPS = 1e-6         # Qwen's rms_norm_eps
ROPE_THETA = 1000000.0  # Qwen's rope_theta
# With θ = 10^6 and D = 16, pair 3 turns 10^6^(-6/16) = 0.0056 rad per token: cos falls monotonically over 256.
RECENCY_PAIR = 3
# The window's width goes with qk²·ω²: sim_weights' 3.5 at 0.01 rad per token becomes 3.5 · 0.01 / 0.0056.
RECENCY_QK = 6.2
BIAS_SCALE = 0.3
SAMPLE_TOP_K = 50  # penalty_sample_head's top_k (PenaltySampleHead's default in the export)


@dataclass(frozen=True)
class QwenSimSpec:
    name: str = "qwen2-sim"
    family: str = "qwen2"
    layers: int = 3
    heads: int = 4
    kv_heads: int = 2
    hidden: int = 64
    ffn: int = 128
    seq_len: int = 256
    seed: int = 8_000_004
    vendor_layout: str = "LLM-TPU"
    layout: int = 1          # word 3: llama2 (batch first, the cache block returns the new row)
    variant: int = 4 | 8     # word 15: attention biases, a bfloat16 attention mask (Qwen2's)
    lm_head_token: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


SPEC = QwenSimSpec()


def train_tokenizer():
    """The trained `tokenizers.Tokenizer` (deterministic: the same files on every build)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers import trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB_SIZE, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tokenizer.train([sim_weights_corpus()], trainer)
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in CONTROL_TOKENS])
    return tokenizer


def sim_weights_corpus() -> str:
    import os
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.txt")


def tokenizer_files(tokenizer) -> dict:
    """File name → bytes: tokenizer.json, vocab.json, tokenizer_config.json (as in LLM-TPU's token_config/)."""
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    ordered = dict(sorted(vocab.items(), key=lambda item: item[1]))
    first_control = len(vocab)
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(first_control + index): {"content": token, "lstrip": False, "normalized": False, "rstrip": False,
                                         "single_word": False, "special": True}
            for index, token in enumerate(CONTROL_TOKENS)},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": SPEC.seq_len,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    # tokenizer.json exactly as the package writes it (Hugging Face's own to_str), pretty-printed like Qwen's.
    return {
        "tokenizer.json": (json.dumps(json.loads(tokenizer.to_str()), indent=2, ensure_ascii=False) + "\n").encode(),
        "vocab.json": json.dumps(ordered, ensure_ascii=False).encode(),
        "tokenizer_config.json": (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode(),
    }


def control_ids(tokenizer) -> dict:
    return {token: tokenizer.token_to_id(token) for token in CONTROL_TOKENS}


def table_rows(ids: int) -> int:
    return (ids + ROW_MULTIPLE - 1) // ROW_MULTIPLE * ROW_MULTIPLE


def piece_bytes(piece: str) -> bytes:
    """The bytes of a byte-level BPE piece (GPT-2's byte-to-unicode table, inverted)."""
    table, next_code = {}, 256
    for byte in range(256):
        printable = ord("!") <= byte <= ord("~") or 0xA1 <= byte <= 0xAC or 0xAE <= byte <= 0xFF
        table[chr(byte) if printable else chr(next_code)] = byte
        if not printable:
            next_code += 1
    return bytes(table[symbol] for symbol in piece)


def make_weights(tokenizer) -> dict:
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    controls = control_ids(tokenizer)
    ids = len(vocab) + len(CONTROL_TOKENS)
    rows = table_rows(ids)
    newline_pieces = [index for piece, index in vocab.items() if b"\n" in piece_bytes(piece)]
    markers = [controls["<|im_start|>"], controls["<|im_end|>"]] + sorted(newline_pieces)
    # An answer holds printable ASCII only (whole UTF-8 characters, so every decoder agrees on its text).
    unprintable = [index for piece, index in vocab.items()
                   if any(byte < 0x20 or byte > 0x7E for byte in piece_bytes(piece))]
    banned = sorted(set(markers + unprintable + [controls["<|endoftext|>"]] + list(range(ids, rows))))
    weights = sim_weights.structured_weights(SPEC, rows, markers, banned, controls["<|im_end|>"],
                                             recency_pair=RECENCY_PAIR, recency_qk=RECENCY_QK)
    rng = np.random.RandomState(SPEC.seed + 1)
    D, HD, KD = SPEC.head_dim, SPEC.heads * SPEC.head_dim, SPEC.kv_heads * SPEC.head_dim
    for layer in range(SPEC.layers):
        bq = rng.standard_normal(HD) * BIAS_SCALE
        bk = rng.standard_normal(KD) * BIAS_SCALE
        bv = rng.standard_normal(KD) * BIAS_SCALE
        if layer == 0:  # the recency head (query head 0, kv head 0) keeps scores that depend on distance alone
            bq[0:D] = 0.0
            bk[0:D] = 0.0
            bv[0] = 0.0
        for name, value in (("bq", bq), ("bk", bk), ("bv", bv)):
            weights[f"block_{layer}.{name}"] = np.ascontiguousarray(value, dtype="<f4")
    return weights, rows, controls


def block_weight_names() -> list:
    """Location names of a block net, in blob order: the Llama block's, then the biases."""
    return sim_weights.block_weight_names() + ["bq", "bk", "bv"]
