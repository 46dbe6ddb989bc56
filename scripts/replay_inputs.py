"""The input names of a saved replay model, for the comparison scripts beside it."""

import subprocess


def model_inputs(replay, model):
    """The input names of model file `model`, in order, from `replay model inspect`."""
    text = subprocess.run([replay, "model", "inspect", model], check=True, capture_output=True, text=True).stdout
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("features ("))
    names = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        names.append(line.split()[0])
    return names
