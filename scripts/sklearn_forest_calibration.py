#!/usr/bin/env python3
"""Does isotonic calibration lower a random forest's test ECE on replay's features?

The same question for scikit-learn's forest, as a reference for replay's figure: fits
`RandomForestClassifier` with the tuned forest's hyperparameters on a run's
train.parquet (the inputs of its saved forest), then prints the test ECE (10 equal-width
bins) before calibration, after isotonic regression fitted on the forest's out-of-bag
probabilities, and after isotonic regression fitted on 5-fold out-of-fold probabilities
(as `CalibratedClassifierCV(method="isotonic", ensemble=False)` does).

    /tmp/peers/bin/python scripts/sklearn_forest_calibration.py --latest /tmp/art-real/latest
"""

import argparse
import os

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from replay_inputs import model_inputs


def ece(p, y, bins=10):
    """Expected calibration error over equal-width bins (the last bin holds 1.0)."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            total += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latest", required=True, help="a run's artifacts/latest directory")
    ap.add_argument("--replay", default="target/release/replay")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    names = model_inputs(args.replay, os.path.join(args.latest, "models", "random_forest.model.bin"))
    train = pd.read_parquet(os.path.join(args.latest, "train.parquet"))
    test = pd.read_parquet(os.path.join(args.latest, "test.parquet"))
    x, y = train[names].to_numpy(float), train["replayed"].to_numpy().astype(int)
    x_test, y_test = test[names].to_numpy(float), test["replayed"].to_numpy().astype(int)

    def forest():
        return RandomForestClassifier(
            n_estimators=100, max_features=0.33, min_samples_leaf=10, n_jobs=-1, random_state=args.seed
        )

    full = forest().set_params(oob_score=True).fit(x, y)
    p_test = full.predict_proba(x_test)[:, 1]
    oob = full.oob_decision_function_[:, 1]
    out_of_fold = np.zeros(len(y))
    for fit_rows, held_out in StratifiedKFold(5, shuffle=True, random_state=args.seed).split(x, y):
        model = forest().fit(x[fit_rows], y[fit_rows])
        out_of_fold[held_out] = model.predict_proba(x[held_out])[:, 1]
    for name, outputs in [("out-of-bag", oob), ("5-fold out-of-fold", out_of_fold)]:
        iso = IsotonicRegression(out_of_bounds="clip").fit(outputs, y)
        print(f"isotonic on {name} probabilities: test ECE {ece(iso.predict(p_test), y_test):.4f}")
    print(f"before calibration: test ECE {ece(p_test, y_test):.4f} ({len(y_test)} test rows)")


if __name__ == "__main__":
    main()
