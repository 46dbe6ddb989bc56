#!/usr/bin/env python3
"""Time LightGBM's exact contributions (`pred_contrib`) on the same data and model shape
as replay's boosting model, for comparison with `cargo xtask bench --config-models`.

Reads the feature stage's train.parquet and test.parquet of a run and the input names of
a saved boosting model (`replay model inspect`), fits LightGBM with the same
hyperparameters (iterations, learning rate, leaves, smallest leaf) and prints its fit
time and the best of three `predict(..., pred_contrib=True)` timings on the test rows.

    cargo xtask run-pipeline --config configs/spotify_songs.toml \\
        --input ../shared/data/spotify_songs.csv.gz --artifacts /tmp/art-real
    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install lightgbm pandas pyarrow
    /tmp/peers/bin/python scripts/lightgbm_contrib_timing.py --latest /tmp/art-real/latest \\
        --iterations 200 --learning-rate 0.05 --leaves 15 --min-leaf 20
"""

import argparse
import os
import time

import lightgbm as lgb
import pandas as pd

from replay_inputs import model_inputs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latest", required=True, help="a run's artifacts/latest directory")
    ap.add_argument("--replay", default="target/release/replay")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--learning-rate", type=float, default=0.05)
    ap.add_argument("--leaves", type=int, default=15)
    ap.add_argument("--min-leaf", type=int, default=20)
    args = ap.parse_args()
    names = model_inputs(args.replay, os.path.join(args.latest, "models", "gradient_boosting.model.bin"))
    train = pd.read_parquet(os.path.join(args.latest, "train.parquet"))
    test = pd.read_parquet(os.path.join(args.latest, "test.parquet"))
    x_train, x_test = train[names].to_numpy(float), test[names].to_numpy(float)
    model = lgb.LGBMClassifier(
        n_estimators=args.iterations,
        learning_rate=args.learning_rate,
        num_leaves=args.leaves,
        min_child_samples=args.min_leaf,
        verbose=-1,
    )
    started = time.perf_counter()
    model.fit(x_train, train["replayed"].to_numpy())
    fit_s = time.perf_counter() - started
    contrib_s = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        model.predict(x_test, pred_contrib=True)
        contrib_s = min(contrib_s, time.perf_counter() - started)
    print(
        f"lightgbm fit_s={fit_s:.3f} pred_contrib_s={contrib_s:.3f} rows={len(x_test)} "
        f"fit_share={contrib_s / fit_s:.3f} inputs={len(names)}"
    )


if __name__ == "__main__":
    main()
