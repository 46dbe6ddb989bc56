#!/usr/bin/env python3
"""Cross-check replay's contributions against the `shap` package.

Reads a replay model file (format 3: a JSON header, then per tree its 16-byte nodes and
f32 node covers), converts its trees into the tree dictionaries `shap.TreeExplainer`
accepts, explains the first ROWS songs of INPUT with `replay explain` (which also reports
every input's value as the model reads it) and with shap's path-dependent TreeSHAP, and
prints the largest difference between the two.

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install shap pandas
    /tmp/peers/bin/python scripts/shap_crosscheck.py --input songs.csv.gz \
        --spec artifacts/latest/feature_spec.json \
        --model artifacts/latest/models/gradient_boosting.model.bin

Trees and forests explain probabilities (a forest's trees each weighted 1/n), boosting
explains log-odds (its initial score is shap's base offset).
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
import shap

MAGIC = b"\x89RPLYMD\n"
MISSING_LEFT = 1 << 31


def read_model(path):
    """The header and the trees of a format-3 model file: per tree, lists of node
    values, metas, first children and covers."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        sys.exit(f"{path}: not a replay model file")
    version, header_len = struct.unpack_from("<II", data, 8)
    if version != 3:
        sys.exit(f"{path}: format {version}; re-train with a replay that writes format 3")
    header = json.loads(data[16 : 16 + header_len])
    at = 16 + header_len + 32
    trees = []
    for _ in range(header["trees"]["count"]):
        (n,) = struct.unpack_from("<I", data, at)
        at += 4
        nodes = [struct.unpack_from("<dII", data, at + 16 * i) for i in range(n)]
        at += 16 * n
        (c,) = struct.unpack_from("<I", data, at)
        at += 4
        covers = list(struct.unpack_from(f"<{c}f", data, at))
        at += 4 * c
        if c != n:
            sys.exit(f"{path}: a tree without node covers")
        trees.append((nodes, covers))
    return header, trees


def shap_tree(nodes, covers, scale):
    """One tree as shap's dictionary: children, default (missing) child, feature,
    threshold (`x <= threshold` goes left, as in replay), value and cover of each node."""
    n = len(nodes)
    left = np.full(n, -1, dtype=np.int32)
    right = np.full(n, -1, dtype=np.int32)
    default = np.full(n, -1, dtype=np.int32)
    features = np.full(n, -2, dtype=np.int32)
    thresholds = np.zeros(n)
    values = np.zeros((n, 1))
    for i, (value, meta, first_child) in enumerate(nodes):
        if first_child == 0:
            values[i, 0] = value * scale
            continue
        left[i], right[i] = first_child, first_child + 1
        default[i] = left[i] if meta & MISSING_LEFT else right[i]
        features[i] = meta & ~MISSING_LEFT
        thresholds[i] = value
    # Inner nodes: the cover-weighted mean of their children (children follow parents).
    for i in reversed(range(n)):
        if left[i] >= 0:
            l, r = left[i], right[i]
            values[i, 0] = (covers[l] * values[l, 0] + covers[r] * values[r, 0]) / (covers[l] + covers[r])
    return {
        "children_left": left,
        "children_right": right,
        "children_default": default,
        "features": features,
        "thresholds": thresholds,
        "values": values,
        "node_sample_weight": np.array(covers, dtype=np.float64),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="songs (CSV, CSV.gz) in the training file's layout")
    parser.add_argument("--spec", required=True, help="feature_spec.json of the run")
    parser.add_argument("--model", required=True, help="a decision tree, forest or boosting model file")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--replay", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "replay"))
    args = parser.parse_args()

    header, trees = read_model(args.model)
    kind = header["model"]["kind"]
    names = header["feature_names"]
    if kind == "random_forest":
        scale, offset = 1.0 / len(trees), 0.0
    elif kind == "gradient_boosting":
        scale, offset = 1.0, header["model"]["init_score"]
    elif kind == "decision_tree":
        scale, offset = 1.0, 0.0
    else:
        sys.exit(f"{kind}: not a tree model")
    model = {
        "trees": [shap_tree(nodes, covers, scale) for nodes, covers in trees],
        "base_offset": offset,
        "tree_output": "raw_value",
        "input_dtype": np.float64,
        "internal_dtype": np.float64,
    }

    with tempfile.TemporaryDirectory() as tmp:
        songs = os.path.join(tmp, "songs.csv")
        pd.read_csv(args.input, nrows=args.rows, keep_default_na=False, dtype=str).to_csv(songs, index=False)
        explained = os.path.join(tmp, "explained.json")
        subprocess.run(
            [args.replay, "explain", "--input", songs, "--spec", args.spec, "--model", args.model,
             "--top", str(len(names)), "--out", explained],
            check=True, stdout=subprocess.DEVNULL,
        )
        with open(explained) as f:
            ours = json.load(f)

    rows = ours["songs"]
    x = np.full((len(rows), len(names)), np.nan)
    mine = np.zeros((len(rows), len(names)))
    for r, song in enumerate(rows):
        for column in song["columns"]:
            for name, entry in column["inputs"].items():
                j = names.index(name)
                x[r, j] = np.nan if entry["value"] is None else entry["value"]
                mine[r, j] = entry["contribution"]
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    theirs = explainer.shap_values(x)
    difference = np.abs(theirs - mine)
    worst = np.unravel_index(np.argmax(difference), difference.shape)
    expected = float(np.ravel(explainer.expected_value)[0])
    print(f"model {args.model} ({kind}, {len(trees)} trees, {ours['space']})")
    print(f"expected value: replay {ours['expected']:.12f} shap {expected:.12f} difference {abs(ours['expected'] - expected):.3e}")
    print(
        f"contributions of {len(rows)} songs x {len(names)} inputs: largest difference {difference.max():.3e} "
        f"(song {worst[0]}, input {names[worst[1]]}), mean {difference.mean():.3e}"
    )
    outputs = np.array([song["output"] for song in rows])
    print(f"local accuracy in shap's values: {np.abs(theirs.sum(axis=1) + expected - outputs).max():.3e}")


if __name__ == "__main__":
    main()
