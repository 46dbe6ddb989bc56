#!/usr/bin/env python3
"""Reference coefficients for the logistic-regression test in crates/models.

Fits scikit-learn's LogisticRegression(C=1, class_weight="balanced") on a train.parquet
written by the feature stage and prints intercept and coefficients. The expected values
in crates/pipeline/tests/real_data.rs come from:

    cargo xtask run-pipeline --config configs/spotify_songs_seed.toml \
        --input ../shared/data/spotify_songs.csv.gz
    python3 scripts/sklearn_logreg_reference.py artifacts/latest/train.parquet

(needs scikit-learn, pandas and pyarrow).
"""
import sys

import pandas as pd
from sklearn.linear_model import LogisticRegression

df = pd.read_parquet(sys.argv[1])
features = list(df.columns[3:])
for tol in (1e-4, 1e-12):
    model = LogisticRegression(C=1.0, class_weight="balanced", tol=tol, max_iter=100000)
    model.fit(df[features].values, df["replayed"].values)
    print(f"tol={tol} iterations={model.n_iter_[0]}")
    print(f"intercept = {model.intercept_[0]!r}")
    print("coefficients = [" + ", ".join(repr(c) for c in model.coef_[0]) + "]")
print("features =", features)
