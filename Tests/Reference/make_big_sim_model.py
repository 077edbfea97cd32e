#!/usr/bin/env python3
"""Writes a sim model as a bmodel of 4 GiB and more, the way the vendor writers write such files.

`make_big_sim_model.py --model build/sim-models/llama2-sim --hole-gib 4 --chip BM1686 --output big.bmodel`
re-encodes the nets of a `make sim-models` folder from its weights.npz, with a sparse hole of that many GiB at the
start of the blob: every weight lies beyond the hole, the header's u32 binary_size holds the blob size mod 2^32
(as libsophon's and tpu-mlir's ModelGen write it), and the file takes a few MB of disk. The tokens it gives must be
those of the original model. Tests make it at run time in a temporary folder and delete it; never commit one.
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import bmodel_writer as bw  # noqa: E402
import make_sim_models as sim  # noqa: E402
from sim_weights import SPECS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a sim model folder of `make sim-models` (chatglm2 or llama2)")
    parser.add_argument("--hole-gib", type=float, required=True, help="size of the sparse hole before the weights")
    parser.add_argument("--chip", default=sim.CHIP, help="the chip string to record (BM1684X, or its old name BM1686)")
    parser.add_argument("--output", required=True, help="the bmodel file to write")
    options = parser.parse_args()

    with open(os.path.join(options.model, "model.json"), encoding="utf-8") as handle:
        description = json.load(handle)
    specs = [spec for spec in SPECS if spec.name == description["name"]]
    if not specs:
        parser.error(f"{options.model}: not one of the sim models {[spec.name for spec in SPECS]}")
    with np.load(os.path.join(options.model, "weights.npz")) as archive:
        weights = {name: archive[name] for name in archive.files}
    nets = sim.nets(specs[0], description["vocab_size"], weights)
    hole = int(options.hole_gib * (1 << 30))
    bw.write_bmodel_after_hole(options.output, nets, options.chip, sim.SCHEMA, hole)
    print(f"{options.output}: {os.path.getsize(options.output)} bytes, weights from byte {hole} of the blob")
    return 0


if __name__ == "__main__":
    sys.exit(main())
