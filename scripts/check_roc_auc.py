#!/usr/bin/env python3
"""Check the reported ROC-AUC of every model against scikit-learn's roc_auc_score on the
same predictions: reads artifacts/latest/predictions.parquet and metrics.json.

    python3 scripts/check_roc_auc.py [artifacts/latest]

(needs scikit-learn, pandas and pyarrow). Exits 1 if any model differs by more than 1e-9.
"""
import json
import sys

import pandas as pd
from sklearn.metrics import roc_auc_score

latest = sys.argv[1] if len(sys.argv) > 1 else "artifacts/latest"
predictions = pd.read_parquet(f"{latest}/predictions.parquet")
metrics = json.load(open(f"{latest}/metrics.json"))["models"]
worst = 0.0
# Every column but the id and the label is a model's probability.
for model in [c for c in predictions.columns if c not in ("id", "replayed")]:
    ours = metrics[model]["roc_auc"]
    theirs = roc_auc_score(predictions["replayed"], predictions[model])
    worst = max(worst, abs(ours - theirs))
    print(f"{model:24s} ours={ours!r} sklearn={theirs!r} diff={abs(ours - theirs):.3e}")
print(f"max difference {worst:.3e} over {len(predictions)} rows")
sys.exit(0 if worst <= 1e-9 else 1)
