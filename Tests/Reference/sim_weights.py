"""The sim models' dimensions and their seeded weights (docs/sim-models.md).

Weights are random but shaped so greedy decoding is well behaved:
- three residual dimensions are reserved: MARKER (set in the embeddings of prompt-structure tokens: the start
  token, ChatGLM2's sop, and the pieces holding "[", "]", "<", ">" or "："), DENSITY (written by layer 0's
  head 0, whose query and key come from CONST in one RoPE pair, so its score depends on the distance alone and
  it reads the density of markers among the last ~20 tokens), and CONST (the same value in every embedding
  row, so it acts as a bias after rmsnorm); every embedding row has the same norm;
- the lm_head reads CONST to push down ids an answer should not contain (unk, bos, byte pieces, markers,
  ChatGLM2's special tokens) and to raise EOS, and reads DENSITY to hold EOS down while the markers of the
  prompt are dense: as an answer grows their density falls, and EOS wins after a few dozen answer tokens, in
  every round of a chat (each round's prompt brings new markers);
- the lm_head subtracts each token's own embedding direction, so a token rarely follows itself;
- logits have a spread of several units, so the top-1/top-2 gap is usually far above fp32 rounding.
No forward pass lives here: Tests/Reference/reference.py computes the model independently.
"""

from dataclasses import dataclass

import numpy as np

MARKER, DENSITY, CONST = 0, 1, 2
RESERVED = 3


@dataclass(frozen=True)
class SimModelSpec:
    name: str
    family: str  # chatglm2 | llama2
    layers: int
    heads: int
    kv_heads: int
    hidden: int
    ffn: int
    seq_len: int
    seed: int
    # Whose net layout the bmodel copies: "LLM-TPU" (sophgo/LLM-TPU, 2024), or a 2023 seed repository:
    # "ChatGLM2-TPU" (sophgo/ChatGLM2-TPU) or "Llama2-TPU" (sophgo/Llama2-TPU). docs/sim-models.md "2023 layouts".
    vendor_layout: str = "LLM-TPU"

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def layout(self) -> int:
        """cpu_param word 3: 0 chatglm2 (sequence first, right-aligned cache), 1 llama2."""
        return 0 if self.family == "chatglm2" else 1

    @property
    def variant(self) -> int:
        """cpu_param word 15: bit 1 = the 2023 tensor ranks (1-D ids), bit 2 = mask 1.0 means masked."""
        return {"LLM-TPU": 0, "ChatGLM2-TPU": 1 | 2, "Llama2-TPU": 1}[self.vendor_layout]

    @property
    def lm_head_token(self) -> bool:
        """ChatGLM2's lm_head returns the argmax token; LLM-TPU's Llama2 returns logits, Llama2-TPU's the token."""
        return self.family == "chatglm2" or self.vendor_layout != "LLM-TPU"

    def table_rows(self, vocab: int) -> int:
        return vocab + 5 if self.family == "chatglm2" else vocab

    def special_tokens(self, vocab: int) -> dict:
        if self.family != "chatglm2":
            return {}
        names = ["[MASK]", "[gMASK]", "[sMASK]", "sop", "eop"]
        return {name: vocab + index for index, name in enumerate(names)}

    def prompt_tokens(self, vocab: int) -> list:
        """The ids a prompt begins with: [gMASK] and sop for ChatGLM2, BOS for Llama2."""
        return [vocab + 1, vocab + 3] if self.family == "chatglm2" else [BOS]


UNK, BOS, EOS = 0, 1, 2
BYTE_PIECES = range(3, 259)

SPECS = [
    SimModelSpec("chatglm2-sim", "chatglm2", layers=3, heads=4, kv_heads=2, hidden=64, ffn=128, seq_len=128,
                 seed=6_000_001),
    SimModelSpec("llama2-sim", "llama2", layers=4, heads=4, kv_heads=4, hidden=64, ffn=128, seq_len=128,
                 seed=7_000_002),
    SimModelSpec("chatglm2-2023-sim", "chatglm2", layers=2, heads=4, kv_heads=2, hidden=64, ffn=128, seq_len=128,
                 seed=6_100_001, vendor_layout="ChatGLM2-TPU"),
    SimModelSpec("llama2-2023-sim", "llama2", layers=3, heads=4, kv_heads=4, hidden=64, ffn=128, seq_len=128,
                 seed=7_100_002, vendor_layout="Llama2-TPU"),
]

RMS_EPS = 1e-5
ROPE_THETA = 10000.0

# Scales (chosen by running reference.py over many prompts: varied answers, EOS after a few dozen tokens,
# and a smallest top-1/top-2 logit gap far above fp32 rounding).
EMBED_NORM = 8.0
MARKER_VALUE = 6.0
CONST_VALUE = 3.0
QK_SCALE = 1.6
ATTN_OUT_SCALE = 0.7
MLP_IN_SCALE = 1.0
MLP_OUT_SCALE = 0.6
DENSITY_GAIN = 1.0
RECENCY_PAIR = 4  # RoPE frequency 10000^(-8/16) = 0.01 rad per token: cos falls monotonically over 128 tokens
RECENCY_QK = 3.5
LOGIT_SPREAD = 6.0
SELF_PENALTY = 1.5
BANNED_BIAS = -12.0
EOS_BIAS = 9.0
EOS_DENSITY_WEIGHT = 60.0


def marker_pieces(pieces: list) -> list:
    """Ids of the SentencePiece pieces that mark prompt structure ("[INST]", "[Round 1]", "问：", "答：")."""
    return [index for index, piece in enumerate(pieces) if index >= 259 and any(c in piece for c in "[]<>：")]


def block_weight_names() -> list:
    """Location names of a block net, in blob order."""
    return ["attn_norm", "wq", "wk", "wv", "wo", "mlp_norm", "w_gate", "w_up", "w_down"]


def make_weights(spec: SimModelSpec, pieces: list) -> dict:
    """All weights as float32 arrays, keyed as in weights.npz: embed, block_{i}.{name}, final_norm, lm.
    `pieces` is the tokenizer's piece list."""
    vocab = len(pieces)
    markers = spec.prompt_tokens(vocab) + marker_pieces(pieces)
    rows = spec.table_rows(vocab)
    banned = [UNK, BOS, *BYTE_PIECES, *markers, *range(vocab, rows)]
    return structured_weights(spec, rows, markers, banned, EOS)


def structured_weights(spec, rows: int, markers: list, banned: list, eos: int,
                       recency_pair: int = RECENCY_PAIR, recency_qk: float = RECENCY_QK) -> dict:
    """The recipe of this module's docstring for any vocabulary: `markers` are the prompt-structure ids, `banned`
    the ids an answer must not contain, `eos` the id the lm_head raises as marker density falls;
    `recency_pair` the RoPE pair of layer 0's recency head and `recency_qk` its query/key weight (together they
    set the window's width)."""
    rng = np.random.RandomState(spec.seed)  # legacy generator: its streams never change between numpy versions
    H, F, D = spec.hidden, spec.ffn, spec.head_dim

    def normal(*shape):
        return rng.standard_normal(shape)

    def norm_vector():
        vector = 1.0 + 0.1 * normal(H)
        vector[:RESERVED] = 1.0
        return vector

    # Every embedding row has the same norm, so layer 0's rmsnorm scales every token alike and the recency
    # head's scores depend on the distance only.
    embed = normal(rows, H)
    embed[:, :RESERVED] = 0.0
    embed[markers, MARKER] = MARKER_VALUE
    embed[:, CONST] = CONST_VALUE
    room = np.sqrt(EMBED_NORM ** 2 - np.sum(embed[:, :RESERVED] ** 2, axis=1))
    embed[:, RESERVED:] *= (room / np.linalg.norm(embed[:, RESERVED:], axis=1))[:, None]
    weights = {"embed": embed}

    for layer in range(spec.layers):
        wq = normal(H, spec.heads * D) * QK_SCALE / np.sqrt(H)
        wk = normal(H, spec.kv_heads * D) * QK_SCALE / np.sqrt(H)
        wv = normal(H, spec.kv_heads * D) / np.sqrt(H)
        wo = normal(spec.heads * D, H) * ATTN_OUT_SCALE / np.sqrt(spec.heads * D)
        wo[:, :RESERVED] = 0.0
        if layer == 0:
            # Head 0 is a recency window: its query and key (kv head 0) come only from CONST, in the RoPE pair
            # (RECENCY_PAIR, +D/2), so its score is a function of the distance alone, a*cos(distance * frequency),
            # highest for the nearest tokens. It reads MARKER through column 0 of kv head 0 and writes the
            # windowed marker density into DENSITY.
            wq[:, 0:D] = 0.0
            wq[CONST, recency_pair] = recency_qk
            wk[:, 0:D] = 0.0
            wk[CONST, recency_pair] = recency_qk
            wv[:, 0] = 0.0
            wv[MARKER, 0] = 1.0
            wo[0, :] = 0.0
            wo[0, DENSITY] = DENSITY_GAIN
        w_gate = normal(H, F) * MLP_IN_SCALE / np.sqrt(H)
        w_up = normal(H, F) * MLP_IN_SCALE / np.sqrt(H)
        w_down = normal(F, H) * MLP_OUT_SCALE / np.sqrt(F)
        w_down[:, :RESERVED] = 0.0
        block = {"attn_norm": norm_vector(), "wq": wq, "wk": wk, "wv": wv, "wo": wo, "mlp_norm": norm_vector(),
                 "w_gate": w_gate, "w_up": w_up, "w_down": w_down}
        for name in block_weight_names():
            weights[f"block_{layer}.{name}"] = block[name]

    lm = normal(H, rows) * LOGIT_SPREAD / np.sqrt(H)
    lm[:RESERVED, :] = 0.0
    directions = embed[:, RESERVED:] / np.linalg.norm(embed[:, RESERVED:], axis=1, keepdims=True)
    lm[RESERVED:, :] -= SELF_PENALTY * directions.T
    lm[CONST, banned] = BANNED_BIAS
    lm[:, eos] = 0.0
    lm[CONST, eos] = EOS_BIAS
    lm[DENSITY, eos] = -EOS_DENSITY_WEIGHT
    weights["final_norm"] = norm_vector()
    weights["lm"] = lm
    return {name: np.ascontiguousarray(value, dtype="<f4") for name, value in weights.items()}
