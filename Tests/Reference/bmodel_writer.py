"""Encodes a sim model as a bmodel file (docs/sim-models.md, "Encoding in the bmodel").

The FlatBuffers `Model` is written as JSON and compiled by flatc (Debian's flatbuffers-compiler, an encoder we
did not write) against Tests/Fixtures/bmodel/bmodel.fbs; the 64-byte header and the binary blob are packed here.
"""

import hashlib
import json
import os
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field

MAGIC = 0xFF55AAEE
HEADER_SIZE = 64
SIM_MAGIC = 0x4D495354  # "TSIM"
SIM_VERSION = 1
NEURON_SIZE = 4608 << 20
CREATE_TIME = "Mon Jan  1 00:00:00 2024\n"  # ctime format; fixed so the file is the same on every build

OP_EMBEDDING, OP_PROMPT_BLOCK, OP_CACHE_BLOCK, OP_LM_HEAD = 0x7E01, 0x7E02, 0x7E03, 0x7E04
OP_GREEDY_HEAD, OP_PENALTY_SAMPLE_HEAD = 0x7E05, 0x7E06  # LLM-TPU Qwen's sampling heads (no weights)
FP32, INT32, BF16 = 0, 6, 8  # bm_data_type_t


@dataclass
class Tensor:
    name: str
    data_type: int
    shape: list

    def to_json(self) -> dict:
        count = 1
        for dim in self.shape:
            count *= dim
        width = 2 if self.data_type == BF16 else 4
        return {"name": self.name, "data_type": self.data_type, "size": count * width, "shape": [{"dim": self.shape}],
                "mem_type": 0, "scale": 1.0}


@dataclass
class Net:
    name: str
    inputs: list
    outputs: list
    op: int
    param_words: list  # the 16 words of binary_param
    weights: list = field(default_factory=list)  # [(location name, float32 array)], in blob order
    more_stages: list = field(default_factory=list)  # [(inputs, outputs)] of stages 1.., same weights and param


class Blob:
    """The binary blob, deduplicated like tpu-mlir's ModelGen: identical bytes are stored once. `offset` places the
    stored bytes that far into the blob (a sparse hole before them, for models of 4 GiB and more)."""

    def __init__(self, offset: int = 0):
        self.offset = offset
        self.data = bytearray()
        self.seen = {}

    def add(self, payload: bytes) -> dict:
        if payload not in self.seen:
            self.seen[payload] = {"start": self.offset + len(self.data), "size": len(payload)}
            self.data += payload
        return dict(self.seen[payload])


def _net_json(net: Net, blob: Blob) -> dict:
    coefficients, locations = bytearray(), []
    for location, array in net.weights:
        payload = array.astype("<f4", copy=False).tobytes()
        locations.append({"name": location, "offset": len(coefficients), "size": len(payload)})
        coefficients += payload
    binary_coeff = blob.add(bytes(coefficients))
    binary_param = blob.add(struct.pack("<16I", *net.param_words))
    parameters = []
    for stage_inputs, stage_outputs in [(net.inputs, net.outputs)] + list(net.more_stages):
        inputs = [tensor.to_json() for tensor in stage_inputs]
        outputs = [tensor.to_json() for tensor in stage_outputs]
        parameters.append({
            "input_tensor": inputs,
            "output_tensor": outputs,
            "ctx_size": NEURON_SIZE,
            "coeff_mem": {"address": 0, "check_code": list(hashlib.sha256(coefficients).digest()),
                          "binary_coeff": dict(binary_coeff), "location": [dict(l) for l in locations]},
            "sub_net": [{"subnet_mode": 1, "id": 0, "input_tensor": inputs, "output_tensor": outputs,
                         "cpu_param": [{"op_type": net.op, "binary_param": dict(binary_param)}]}],
        })
    return {"name": net.name, "parameter": parameters}


def _header_and_model(nets: list, chip: str, schema: str, blob: Blob) -> bytes:
    """The 64-byte header and the FlatBuffers Model (via flatc). binary_size is a u32 that the vendor writers
    (libsophon and tpu-mlir `ModelGen::Save`) fill with the blob's size_t size, so it wraps at 4 GiB; so does this."""
    model = {"type": "B", "version": "2.2", "time": CREATE_TIME, "chip": chip, "neuron_size": NEURON_SIZE,
             "kernel_module": {"file_name": "", "binary": {"start": 0, "size": 0}},
             "net": [_net_json(net, blob) for net in nets]}
    with tempfile.TemporaryDirectory(prefix="sim-bmodel-") as work:
        source = os.path.join(work, "model.json")
        with open(source, "w", encoding="utf-8") as handle:
            json.dump(model, handle, indent=1)
        subprocess.run(["flatc", "-b", "-o", work, schema, source], check=True)
        with open(os.path.join(work, "model.bin"), "rb") as handle:
            flatbuffers = handle.read()
    binary_size = (blob.offset + len(blob.data)) & 0xFFFFFFFF
    return struct.pack("<4I", MAGIC, HEADER_SIZE, len(flatbuffers), binary_size) + bytes(48) + flatbuffers


def encode_bmodel(nets: list, chip: str, schema: str) -> bytes:
    """The whole bmodel file: header, FlatBuffers Model (via flatc), blob."""
    blob = Blob()
    head = _header_and_model(nets, chip, schema, blob)
    return head + bytes(blob.data)


def write_bmodel_after_hole(path: str, nets: list, chip: str, schema: str, hole: int) -> None:
    """Writes the bmodel with `hole` bytes of sparse hole at the start of its blob, so every weight sits at least
    that far in: a file of `hole` + a few MB that takes a few MB of disk."""
    blob = Blob(offset=hole)
    head = _header_and_model(nets, chip, schema, blob)
    with open(path, "wb") as handle:
        handle.write(head)
        handle.seek(hole, os.SEEK_CUR)
        handle.write(blob.data)


def param_words(op: int, spec, table_rows: int, layer: int = 0, rope_theta: float = 10000.0,
                rms_eps: float = 1e-5) -> list:
    """binary_param of a net: the 16 words of docs/sim-models.md (rope_theta 0: the model has no RoPE)."""
    eps = struct.unpack("<I", struct.pack("<f", rms_eps))[0]
    theta = struct.unpack("<I", struct.pack("<f", rope_theta))[0]
    return [SIM_MAGIC, SIM_VERSION, op, spec.layout, spec.hidden, spec.heads, spec.kv_heads, spec.head_dim,
            spec.ffn, spec.seq_len, table_rows, layer, 1 if spec.lm_head_token else 0, eps, theta, spec.variant]
