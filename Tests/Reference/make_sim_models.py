#!/usr/bin/env python3
"""Writes the sim models of docs/sim-models.md: `make_sim_models.py --output build/sim-models`.

For each model, <output>/<name>/ gets <name>.bmodel, its tokenizer (tokenizer.model, or vocab.json and merges.txt
for wizardcoder-sim, or Qwen's tokenizer.json, vocab.json and tokenizer_config.json for qwen2-sim), weights.npz
and model.json. The same
inputs give the same bytes. Nothing is rewritten when every output is newer than every input (this script,
its modules, the corpus and the bmodel schema); every file is written to a temporary name and renamed.
"""

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import bmodel_writer as bw  # noqa: E402
from sim_weights import (BOS, EOS, ROPE_THETA, RMS_EPS, SPECS, UNK, block_weight_names,  # noqa: E402
                         make_weights)
import wizardcoder_weights as wizard  # noqa: E402
import qwen_sim  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus.txt")
SCHEMA = os.path.join(REPOSITORY, "Tests", "Fixtures", "bmodel", "bmodel.fbs")
INPUTS = [os.path.abspath(__file__), os.path.join(HERE, "sim_weights.py"), os.path.join(HERE, "bmodel_writer.py"),
          os.path.join(HERE, "wizardcoder_weights.py"), os.path.join(HERE, "qwen_sim.py"), CORPUS, SCHEMA]
OUTPUT_FILES = ["{name}.bmodel", "tokenizer.model", "weights.npz", "model.json"]
WIZARD_OUTPUT_FILES = ["{name}.bmodel", "vocab.json", "merges.txt", "weights.npz", "model.json"]
QWEN_OUTPUT_FILES = ["{name}.bmodel", "tokenizer.json", "vocab.json", "tokenizer_config.json", "weights.npz",
                     "model.json"]
CHIP = "BM1684X"
WIZARD_SPECS = [wizard.SPEC, wizard.SEED_SPEC]

# The tokenizer: BPE with byte fallback, ids unk 0 / bos 1 / eos 2, Llama-like normalisation (identity, spaces
# kept, a dummy prefix), trained single-threaded with a fixed seed so the file is the same on every build.
SPM_FLAGS = ["--model_type=bpe", "--vocab_size=512", "--byte_fallback=true", "--character_coverage=1.0",
             "--hard_vocab_limit=false", "--num_threads=1", "--random_seed=20240601",
             "--normalization_rule_name=identity", "--remove_extra_whitespaces=false", "--add_dummy_prefix=true",
             "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1", "--minloglevel=2"]


def write_atomically(path: str, data: bytes) -> None:
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def up_to_date(output: str) -> bool:
    newest_input = max(os.path.getmtime(path) for path in INPUTS)
    expected = [(spec.name, pattern) for spec in SPECS for pattern in OUTPUT_FILES]
    expected += [(spec.name, pattern) for spec in WIZARD_SPECS for pattern in WIZARD_OUTPUT_FILES]
    expected += [(qwen_sim.SPEC.name, pattern) for pattern in QWEN_OUTPUT_FILES]
    for name, pattern in expected:
        path = os.path.join(output, name, pattern.format(name=name))
        if not os.path.exists(path) or os.path.getmtime(path) <= newest_input:
            return False
    return True


def train_tokenizer() -> bytes:
    """spm_train on the corpus, run in a scratch folder with relative paths (the model records them)."""
    with tempfile.TemporaryDirectory(prefix="sim-spm-") as work:
        shutil.copyfile(CORPUS, os.path.join(work, "corpus.txt"))
        subprocess.run(["spm_train", "--input=corpus.txt", "--model_prefix=tokenizer", *SPM_FLAGS], cwd=work,
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(work, "tokenizer.model"), "rb") as handle:
            return handle.read()


# WizardCoder's tokenizer: GPT-2 byte-level BPE (all 256 byte symbols, no prefix space) trained with the
# `tokenizers` package; "<|endoftext|>" is the first special token, so its id is 0, as in StarCoder's vocabulary.
BYTE_PAIR_VOCAB_SIZE = 1024


def train_byte_pair_tokenizer() -> tuple:
    """(vocab.json bytes, merges.txt bytes), trained on the corpus; the trainer is deterministic."""
    from tokenizers import ByteLevelBPETokenizer

    trainer = ByteLevelBPETokenizer(add_prefix_space=False)
    trainer.train([CORPUS], vocab_size=BYTE_PAIR_VOCAB_SIZE, min_frequency=2, special_tokens=["<|endoftext|>"],
                  show_progress=False)
    with tempfile.TemporaryDirectory(prefix="sim-bpe-") as work:
        trainer.save_model(work)
        with open(os.path.join(work, "vocab.json"), "rb") as vocab, open(os.path.join(work, "merges.txt"), "rb") as merges:
            return vocab.read(), merges.read()


def byte_pair_pieces(vocab_bytes: bytes) -> list:
    vocab = json.loads(vocab_bytes.decode("utf-8"))
    pieces = [None] * len(vocab)
    for piece, index in vocab.items():
        pieces[index] = piece
    assert None not in pieces and pieces[wizard.EOS] == "<|endoftext|>"
    return pieces


def tokenizer_pieces(model_bytes: bytes) -> list:
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor()
    processor.LoadFromSerializedProto(model_bytes)
    assert (processor.unk_id(), processor.bos_id(), processor.eos_id()) == (UNK, BOS, EOS)
    return [processor.id_to_piece(index) for index in range(processor.get_piece_size())]


def npz_bytes(weights: dict) -> bytes:
    """Like numpy.savez, but with fixed zip timestamps so the archive is reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in weights.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def nets(spec, vocab: int, weights: dict, rows: int = 0, block_names=block_weight_names, words=None,
         mask_type: int = bw.FP32) -> list:
    """The nets of docs/sim-models.md, in file order: embedding, embedding_cache, block_i/block_cache_i, lm_head.
    `rows`, `block_names`, `words` and `mask_type` default to the Llama/ChatGLM2 sim models' (qwen2-sim passes
    its own)."""
    S, H, KVH, D = spec.seq_len, spec.hidden, spec.kv_heads, spec.head_dim
    rows = rows or spec.table_rows(vocab)
    T, F32, I32 = bw.Tensor, bw.FP32, bw.INT32
    sequence_first = spec.family == "chatglm2"

    def states(length):
        return [length, 1, H] if sequence_first else [1, length, H]

    def kv(length):
        return [length, 1, KVH, D] if sequence_first else [1, length, KVH, D]

    if words is None:
        def words(op, layer=0):
            return bw.param_words(op, spec, rows, layer)

    embed = [("embed", weights["embed"])]
    result = [
        bw.Net("embedding", [T("input_ids", I32, [1, S])], [T("input_states", F32, states(S))],
               bw.OP_EMBEDDING, words(bw.OP_EMBEDDING), embed),
        bw.Net("embedding_cache", [T("input_ids", I32, [1, 1])], [T("input_states", F32, [1, 1, H])],
               bw.OP_EMBEDDING, words(bw.OP_EMBEDDING), embed),
    ]
    for layer in range(spec.layers):
        block = [(name, weights[f"block_{layer}.{name}"]) for name in block_names()]
        result.append(bw.Net(
            f"block_{layer}",
            [T("input_states", F32, states(S)), T("position_ids", I32, [1, S]),
             T("attention_mask", mask_type, [1, 1, S, S])],
            [T("hidden_states", F32, states(S)), T("past_k", F32, kv(S)), T("past_v", F32, kv(S))],
            bw.OP_PROMPT_BLOCK, words(bw.OP_PROMPT_BLOCK, layer), block))
        new_rows = S if sequence_first else 1
        result.append(bw.Net(
            f"block_cache_{layer}",
            [T("input_states", F32, [1, 1, H]), T("position_ids", I32, [1, 1]),
             T("attention_mask", mask_type, [1, 1, 1, S + 1]), T("history_k", F32, kv(S)),
             T("history_v", F32, kv(S))],
            [T("hidden_states", F32, [1, 1, H]), T("past_k", F32, kv(new_rows)), T("past_v", F32, kv(new_rows))],
            bw.OP_CACHE_BLOCK, words(bw.OP_CACHE_BLOCK, layer), block))
    head_output = T("token", I32, [1, 1]) if spec.lm_head_token else T("m_logits", F32, [1, rows])
    result.append(bw.Net("lm_head", [T("hidden_states", F32, [1, H])], [head_output], bw.OP_LM_HEAD,
                         words(bw.OP_LM_HEAD), [("final_norm", weights["final_norm"]), ("lm", weights["lm"])]))
    if spec.vendor_layout != "LLM-TPU":
        return seed_repository_nets(spec, result, embed, words)
    return result


def seed_repository_nets(spec, llm_tpu_nets: list, embed: list, words) -> list:
    """The same model laid out like a 2023 seed repository (docs/sim-models.md "2023 layouts"), in the order its
    compile.sh hands the pieces to `model_tool --combine`: the one-token embedding, the prompt embedding, lm_head,
    then block_i/block_cache_i. Both trace the embedding on 1-D ids ([n] → [n,H]).
    ChatGLM2-TPU (compile/compile.sh, export_onnx.py): one `embedding` net with two stages ([1] first, then [S]),
    blocks named glm_block_i / glm_block_cache_i. Llama2-TPU (compile/compile.sh): `embedding_cache` ([1]) and
    `embedding` ([S]), blocks named as in LLM-TPU."""
    S, H = spec.seq_len, spec.hidden
    T, F32, I32 = bw.Tensor, bw.FP32, bw.INT32

    def embedding_tensors(length):
        return [T("input_ids", I32, [length])], [T("input_embed", F32, [length, H])]

    blocks = [net for net in llm_tpu_nets if net.op in (bw.OP_PROMPT_BLOCK, bw.OP_CACHE_BLOCK)]
    head = [net for net in llm_tpu_nets if net.op == bw.OP_LM_HEAD]
    step, prompt = embedding_tensors(1), embedding_tensors(S)
    if spec.vendor_layout == "ChatGLM2-TPU":
        for net in blocks:
            net.name = "glm_" + net.name
        embedding = [bw.Net("embedding", *step, bw.OP_EMBEDDING, words(bw.OP_EMBEDDING), embed, more_stages=[prompt])]
    else:
        embedding = [bw.Net("embedding_cache", *step, bw.OP_EMBEDDING, words(bw.OP_EMBEDDING), embed),
                     bw.Net("embedding", *prompt, bw.OP_EMBEDDING, words(bw.OP_EMBEDDING), embed)]
    return embedding + head + blocks


def wizardcoder_nets(spec, vocab: int, weights: dict) -> list:
    """WizardCoder's nets (LLM-TPU): embedding with two stages ([1,1] first, then [1,S]) taking ids and positions,
    block_i / block_cache_i with one combined past [1,S,2D] per layer, lm_head returning the argmax token."""
    S, H, D = spec.seq_len, spec.hidden, spec.head_dim
    T, F32, I32 = bw.Tensor, bw.FP32, bw.INT32

    def words(op, layer=0):
        return bw.param_words(op, spec, vocab, layer, rope_theta=0.0)

    # Wizardcoder-TPU (2023; compile/compile.sh, compile/export_to_onnx.py) traced 1-D ids and positions, masks
    # [S,S] and [1,S+1], and lm_head on [H] returning [1]; the bytes are the same as LLM-TPU's.
    seed = spec.vendor_layout != "LLM-TPU"

    def embedding_tensors(length):
        if seed:
            return ([T("input_ids", I32, [length]), T("input_pos", I32, [length])],
                    [T("hidden_state", F32, [length, H])])
        return ([T("input_ids", I32, [1, length]), T("position_ids", I32, [1, length])],
                [T("input_states", F32, [1, length, H])])

    prompt_mask = [S, S] if seed else [1, 1, S, S]
    step_mask = [1, S + 1] if seed else [1, 1, 1, S + 1]

    step_inputs, step_outputs = embedding_tensors(1)
    result = [bw.Net("embedding", step_inputs, step_outputs, bw.OP_EMBEDDING, words(bw.OP_EMBEDDING),
                     [("embed", weights["embed"]), ("pos_embed", weights["pos_embed"])],
                     more_stages=[embedding_tensors(S)])]
    for layer in range(spec.layers):
        block = [(name, weights[f"block_{layer}.{name}"]) for name in wizard.block_weight_names()]
        result.append(bw.Net(
            f"block_{layer}",
            [T("input_states", F32, [1, S, H]), T("attention_mask", F32, prompt_mask)],
            [T("hidden_states", F32, [1, S, H]), T("past_layers", F32, [1, S, 2 * D])],
            bw.OP_PROMPT_BLOCK, words(bw.OP_PROMPT_BLOCK, layer), block))
        result.append(bw.Net(
            f"block_cache_{layer}",
            [T("input_states", F32, [1, 1, H]), T("past_layers", F32, [1, S, 2 * D]),
             T("attention_mask", F32, step_mask)],
            [T("hidden_states", F32, [1, 1, H]), T("current_cache", F32, [1, S + 1, 2 * D])],
            bw.OP_CACHE_BLOCK, words(bw.OP_CACHE_BLOCK, layer), block))
    result.append(bw.Net("lm_head", [T("hidden_states", F32, [H] if seed else [1, H])],
                         [T("token", I32, [1] if seed else [1, 1])], bw.OP_LM_HEAD,
                         words(bw.OP_LM_HEAD), [("final_norm", weights["final_norm"]),
                                                ("final_norm_bias", weights["final_norm_bias"]), ("lm", weights["lm"])]))
    if seed:  # compile.sh's model_tool --combine order: embedding, lm_head, then the blocks
        return [result[0], result[-1]] + result[1:-1]
    return result


def write_wizardcoder(output: str, spec, vocab_bytes: bytes, merges_bytes: bytes) -> None:
    pieces = byte_pair_pieces(vocab_bytes)
    vocab = len(pieces)
    directory = os.path.join(output, spec.name)
    os.makedirs(directory, exist_ok=True)
    weights = wizard.make_weights(spec, pieces)
    model_nets = wizardcoder_nets(spec, vocab, weights)
    description = {
        "name": spec.name, "family": spec.family, "layers": spec.layers, "heads": spec.heads,
        "kv_heads": spec.kv_heads, "hidden": spec.hidden, "head_dim": spec.head_dim, "ffn": spec.ffn,
        "seq_len": spec.seq_len, "vocab_size": vocab, "table_rows": vocab,
        "special_tokens": spec.special_tokens(vocab), "eos_id": wizard.EOS, "layer_norm_eps": wizard.LN_EPS,
        "lm_head_output": "token", "nets": [net.name for net in model_nets],
    }
    if spec.vendor_layout != "LLM-TPU":
        description["layout"] = spec.vendor_layout
    write_atomically(os.path.join(directory, "vocab.json"), vocab_bytes)
    write_atomically(os.path.join(directory, "merges.txt"), merges_bytes)
    write_atomically(os.path.join(directory, "weights.npz"), npz_bytes(weights))
    write_atomically(os.path.join(directory, "model.json"),
                     (json.dumps(description, indent=2, ensure_ascii=False) + "\n").encode())
    write_atomically(os.path.join(directory, f"{spec.name}.bmodel"), bw.encode_bmodel(model_nets, CHIP, SCHEMA))
    print(f"{directory}: {len(model_nets)} nets, vocabulary {vocab}")


def write_qwen(output: str) -> None:
    """qwen2-sim (Tests/Reference/qwen_sim.py): Qwen's tokenizer files, the Llama-layout nets with q/k/v biases."""
    spec = qwen_sim.SPEC
    tokenizer = qwen_sim.train_tokenizer()
    files = qwen_sim.tokenizer_files(tokenizer)
    weights, rows, controls = qwen_sim.make_weights(tokenizer)
    vocab = len(tokenizer.get_vocab(with_added_tokens=False))

    def words(op, layer=0):
        return bw.param_words(op, spec, rows, layer, rope_theta=qwen_sim.ROPE_THETA, rms_eps=qwen_sim.RMS_EPS)

    llama_nets = nets(spec, vocab, weights, rows=rows, block_names=qwen_sim.block_weight_names, words=words,
                      mask_type=bw.BF16)
    # LLM-TPU's Qwen compile.sh hands model_tool --combine the embeddings, lm_head, greedy_head and
    # penalty_sample_head, then block_i/block_cache_i; the two heads have no weights.
    T, F32, I32, S = bw.Tensor, bw.FP32, bw.INT32, spec.seq_len
    heads = [
        bw.Net("greedy_head", [T("m_logits", F32, [1, rows])], [T("token", I32, [1, 1])], bw.OP_GREEDY_HEAD,
               words(bw.OP_GREEDY_HEAD), []),
        bw.Net("penalty_sample_head",
               [T("m_logits", F32, [1, rows]), T("input_ids", I32, [1, S]), T("top_p", F32, [1]),
                T("temperature", F32, [1]), T("penalty", F32, [1])],
               [T("probs", F32, [1, qwen_sim.SAMPLE_TOP_K]), T("token", I32, [1, qwen_sim.SAMPLE_TOP_K])],
               bw.OP_PENALTY_SAMPLE_HEAD, words(bw.OP_PENALTY_SAMPLE_HEAD), []),
    ]
    model_nets = llama_nets[:2] + [llama_nets[-1]] + heads + llama_nets[2:-1]
    directory = os.path.join(output, spec.name)
    os.makedirs(directory, exist_ok=True)
    description = {
        "name": spec.name, "family": spec.family, "layers": spec.layers, "heads": spec.heads,
        "kv_heads": spec.kv_heads, "hidden": spec.hidden, "head_dim": spec.head_dim, "ffn": spec.ffn,
        "seq_len": spec.seq_len, "vocab_size": vocab + len(controls), "table_rows": rows,
        "special_tokens": controls, "eos_id": controls["<|im_end|>"],
        "stop_ids": [controls["<|im_end|>"], controls["<|endoftext|>"]],
        "rms_eps": qwen_sim.RMS_EPS, "rope_theta": qwen_sim.ROPE_THETA, "attention_bias": True,
        "default_system": qwen_sim.DEFAULT_SYSTEM, "lm_head_output": "logits",
        "nets": [net.name for net in model_nets],
    }
    for name, data in files.items():
        write_atomically(os.path.join(directory, name), data)
    write_atomically(os.path.join(directory, "weights.npz"), npz_bytes(weights))
    write_atomically(os.path.join(directory, "model.json"),
                     (json.dumps(description, indent=2, ensure_ascii=False) + "\n").encode())
    write_atomically(os.path.join(directory, f"{spec.name}.bmodel"), bw.encode_bmodel(model_nets, CHIP, SCHEMA))
    print(f"{directory}: {len(model_nets)} nets, {vocab} BPE pieces + {len(controls)} control tokens, "
          f"table rows {rows}")


def model_description(spec, vocab: int, net_names: list) -> dict:
    description = {
        "name": spec.name, "family": spec.family, "layers": spec.layers, "heads": spec.heads,
        "kv_heads": spec.kv_heads, "hidden": spec.hidden, "head_dim": spec.head_dim, "ffn": spec.ffn,
        "seq_len": spec.seq_len, "vocab_size": vocab, "table_rows": spec.table_rows(vocab),
        "special_tokens": spec.special_tokens(vocab), "unk_id": UNK, "bos_id": BOS, "eos_id": EOS,
        "rms_eps": RMS_EPS, "rope_theta": ROPE_THETA,
        "lm_head_output": "token" if spec.lm_head_token else "logits", "nets": net_names,
    }
    if spec.vendor_layout != "LLM-TPU":
        description["layout"] = spec.vendor_layout
    return description


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="folder that receives one folder per sim model")
    parser.add_argument("--force", action="store_true", help="rebuild even when the outputs are up to date")
    options = parser.parse_args()
    output = os.path.abspath(options.output)
    if not options.force and up_to_date(output):
        print(f"sim models in {output} are up to date")
        return 0
    tokenizer = train_tokenizer()
    pieces = tokenizer_pieces(tokenizer)
    vocab = len(pieces)
    for spec in SPECS:
        directory = os.path.join(output, spec.name)
        os.makedirs(directory, exist_ok=True)
        weights = make_weights(spec, pieces)
        model_nets = nets(spec, vocab, weights)
        description = model_description(spec, vocab, [net.name for net in model_nets])
        write_atomically(os.path.join(directory, "tokenizer.model"), tokenizer)
        write_atomically(os.path.join(directory, "weights.npz"), npz_bytes(weights))
        write_atomically(os.path.join(directory, "model.json"),
                         (json.dumps(description, indent=2, ensure_ascii=False) + "\n").encode())
        write_atomically(os.path.join(directory, f"{spec.name}.bmodel"), bw.encode_bmodel(model_nets, CHIP, SCHEMA))
        print(f"{directory}: {len(model_nets)} nets, vocabulary {vocab}, table rows {spec.table_rows(vocab)}")
    vocab_bytes, merges_bytes = train_byte_pair_tokenizer()
    for spec in WIZARD_SPECS:
        write_wizardcoder(output, spec, vocab_bytes, merges_bytes)
    write_qwen(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
