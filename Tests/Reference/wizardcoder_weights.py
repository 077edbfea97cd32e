"""The wizardcoder-sim model: dimensions and seeded weights (docs/sim-models.md, "wizardcoder-sim").

A StarCoder-like (GPTBigCode) model shrunk to a toy: learned position embeddings added in the embedding net,
pre-LayerNorm blocks with gain and bias, multi-query attention (one shared key/value head, stored as one
combined "past" row [k | v]), a GELU (tanh form) MLP, a final LayerNorm and an lm_head that returns the argmax.

The weights reuse the idea of sim_weights.py so greedy answers are well behaved:
- reserved residual dimensions: MARKER (set in the embeddings of prompt-structure pieces: those holding "#",
  ":" or a newline), DENSITY (written by layer 0's head 0), CONST (the same value in every embedding row), and
  four position dimensions (a·cos ωp, a·sin ωp and their negatives) in the position table;
- every embedding row has mean 0 and the same norm, every position row mean 0 and the same norm, on disjoint
  dimensions, so layer 0's LayerNorm scales every input row alike and head 0's score (its query and key read
  only the position dimensions) is a function of the distance alone: a recency window that reads the density of
  markers among the last ~20 tokens;
- the lm_head bans ids an answer should not contain (EOS except through its own bias, markers, pieces with
  bytes outside printable ASCII), raises EOS through CONST and holds it down through DENSITY, so answers end
  after a few dozen tokens in every round; it subtracts each token's own embedding direction.
No forward pass lives here: Tests/Reference/reference.py computes the model independently.
"""

from dataclasses import dataclass

import numpy as np

MARKER, DENSITY, CONST, POS_COS, POS_SIN, NEG_COS, NEG_SIN = 0, 1, 2, 3, 4, 5, 6
RESERVED = 7
LAYOUT = 2  # cpu_param word 3
LN_EPS = 1e-5


@dataclass(frozen=True)
class WizardCoderSpec:
    name: str
    family: str
    layers: int
    heads: int
    kv_heads: int
    hidden: int
    ffn: int
    seq_len: int
    seed: int
    # "LLM-TPU" (sophgo/LLM-TPU) or "Wizardcoder-TPU" (enigma9981/Wizardcoder-TPU: 1-D ids and positions, 2-D masks,
    # lm_head [H] → [1]); docs/sim-models.md "2023 layouts".
    vendor_layout: str = "LLM-TPU"

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def layout(self) -> int:
        return LAYOUT

    @property
    def lm_head_token(self) -> bool:
        return True

    @property
    def variant(self) -> int:
        """cpu_param word 15: bit 1 = the 2023 tensor ranks."""
        return 0 if self.vendor_layout == "LLM-TPU" else 1

    def table_rows(self, vocab: int) -> int:
        return vocab

    def special_tokens(self, vocab: int) -> dict:
        return {"<|endoftext|>": EOS}


EOS = 0  # <|endoftext|>, the first special token of the trained vocabulary (StarCoder's id too)

SPEC = WizardCoderSpec("wizardcoder-sim", "wizardcoder", layers=2, heads=4, kv_heads=1, hidden=64, ffn=128,
                       seq_len=256, seed=8_000_003)
SEED_SPEC = WizardCoderSpec("wizardcoder-2023-sim", "wizardcoder", layers=3, heads=4, kv_heads=1, hidden=64, ffn=128,
                            seq_len=256, seed=8_100_003, vendor_layout="Wizardcoder-TPU")

# Scales (chosen by running reference.py over many prompts, like sim_weights.py's).
EMBED_NORM = 8.0
MARKER_VALUE = 6.0
CONST_VALUE = 3.0
POSITION_VALUE = 3.0
POSITION_FREQUENCY = 0.01  # ω, radians per token: cos(ω·distance) falls monotonically over 256 tokens
QK_SCALE = 1.6
ATTN_OUT_SCALE = 0.7
MLP_IN_SCALE = 1.0
MLP_OUT_SCALE = 0.6
DENSITY_GAIN = 1.0
RECENCY_QK = 3.5
LOGIT_SPREAD = 6.0
SELF_PENALTY = 1.5
BANNED_BIAS = -12.0
EOS_BIAS = 12.0
EOS_DENSITY_WEIGHT = 40.0


def piece_bytes(piece: str) -> bytes:
    """The bytes of a GPT-2 byte-level piece (its characters map back through GPT-2's byte-to-unicode table)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[chr(byte)] = byte
        else:
            table[chr(256 + extra)] = byte
            extra += 1
    return bytes(table[c] for c in piece)


def marker_pieces(pieces: list) -> list:
    """Ids of the pieces that mark the Alpaca prompt's structure: "###", ":" and newlines."""
    return [index for index, piece in enumerate(pieces)
            if index != EOS and any(b in piece_bytes(piece) for b in b"#:\n")]


def unprintable_pieces(pieces: list) -> list:
    """Ids of the pieces holding a byte outside printable ASCII (control bytes, parts of UTF-8 characters)."""
    return [index for index, piece in enumerate(pieces)
            if index != EOS and any(b < 0x20 or b > 0x7E for b in piece_bytes(piece))]


def block_weight_names() -> list:
    """Location names of a block net, in blob order."""
    return ["attn_norm", "attn_norm_bias", "wq", "wk", "wv", "wo", "mlp_norm", "mlp_norm_bias", "w_up", "w_down"]


def make_weights(spec: WizardCoderSpec, pieces: list) -> dict:
    """All weights as float32 arrays, keyed as in weights.npz: embed, pos_embed, block_{i}.{name}, final_norm,
    final_norm_bias, lm. `pieces` is the vocabulary (vocab.json's tokens by id)."""
    vocab = len(pieces)
    markers = marker_pieces(pieces)
    rng = np.random.RandomState(spec.seed)
    H, F, D, S = spec.hidden, spec.ffn, spec.head_dim, spec.seq_len
    free = H - RESERVED

    def normal(*shape):
        return rng.standard_normal(shape)

    def gain():
        vector = 1.0 + 0.1 * normal(H)
        vector[:RESERVED] = 1.0
        return vector

    def bias():
        vector = 0.05 * normal(H)
        vector[:RESERVED] = 0.0
        return vector

    # Token rows: mean 0 over all H dimensions and norm EMBED_NORM, zero on the position dimensions.
    embed = np.zeros((vocab, H))
    embed[markers, MARKER] = MARKER_VALUE
    embed[:, CONST] = CONST_VALUE
    spread = normal(vocab, free)
    spread -= spread.mean(axis=1, keepdims=True)
    offset = -(embed[:, MARKER] + embed[:, CONST]) / free  # makes the whole row's sum 0
    room = EMBED_NORM ** 2 - embed[:, MARKER] ** 2 - embed[:, CONST] ** 2 - free * offset ** 2
    spread *= (np.sqrt(room) / np.linalg.norm(spread, axis=1))[:, None]
    embed[:, RESERVED:] = spread + offset[:, None]

    # Position rows: (a cos ωp, a sin ωp, −a cos ωp, −a sin ωp) on their own dimensions: mean 0, norm a√2.
    angles = POSITION_FREQUENCY * np.arange(S)
    pos_embed = np.zeros((S, H))
    pos_embed[:, POS_COS] = POSITION_VALUE * np.cos(angles)
    pos_embed[:, POS_SIN] = POSITION_VALUE * np.sin(angles)
    pos_embed[:, NEG_COS] = -pos_embed[:, POS_COS]
    pos_embed[:, NEG_SIN] = -pos_embed[:, POS_SIN]
    weights = {"embed": embed, "pos_embed": pos_embed}

    for layer in range(spec.layers):
        wq = normal(H, spec.heads * D) * QK_SCALE / np.sqrt(H)
        wk = normal(H, D) * QK_SCALE / np.sqrt(H)
        wv = normal(H, D) / np.sqrt(H)
        wo = normal(spec.heads * D, H) * ATTN_OUT_SCALE / np.sqrt(spec.heads * D)
        wq[:RESERVED, :] = 0.0  # only layer 0's head 0 reads the reserved dimensions
        wk[:RESERVED, :] = 0.0
        wv[:RESERVED, :] = 0.0
        wo[:, :RESERVED] = 0.0
        if layer == 0:
            # Head 0 is a recency window: q·k = RECENCY_QK² (cos ωi cos ωj + sin ωi sin ωj) / σ² = f(i − j).
            wq[:, 0:D] = 0.0
            wq[POS_COS, 0] = RECENCY_QK
            wq[POS_SIN, 1] = RECENCY_QK
            wk[:, 0:2] = 0.0
            wk[POS_COS, 0] = RECENCY_QK
            wk[POS_SIN, 1] = RECENCY_QK
            wv[:, 0] = 0.0
            wv[MARKER, 0] = 1.0
            wo[0, :] = 0.0
            wo[0, DENSITY] = DENSITY_GAIN
        w_up = normal(H, F) * MLP_IN_SCALE / np.sqrt(H)
        w_down = normal(F, H) * MLP_OUT_SCALE / np.sqrt(F)
        w_down[:, :RESERVED] = 0.0
        block = {"attn_norm": gain(), "attn_norm_bias": bias(), "wq": wq, "wk": wk, "wv": wv, "wo": wo,
                 "mlp_norm": gain(), "mlp_norm_bias": bias(), "w_up": w_up, "w_down": w_down}
        for name in block_weight_names():
            weights[f"block_{layer}.{name}"] = block[name]

    lm = normal(H, vocab) * LOGIT_SPREAD / np.sqrt(H)
    lm[:RESERVED, :] = 0.0
    directions = embed[:, RESERVED:] / np.linalg.norm(embed[:, RESERVED:], axis=1, keepdims=True)
    lm[RESERVED:, :] -= SELF_PENALTY * directions.T
    banned = sorted(set(markers) | set(unprintable_pieces(pieces)))
    lm[CONST, banned] = BANNED_BIAS
    lm[:, EOS] = 0.0
    lm[CONST, EOS] = EOS_BIAS
    lm[DENSITY, EOS] = -EOS_DENSITY_WEIGHT
    weights["final_norm"] = gain()
    weights["final_norm_bias"] = bias()
    weights["lm"] = lm
    return {name: np.ascontiguousarray(value, dtype="<f4") for name, value in weights.items()}
