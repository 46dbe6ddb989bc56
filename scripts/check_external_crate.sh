#!/usr/bin/env bash
# A project outside this workspace that depends on replay-models by path fits a forest on
# an ndarray and predicts. Uses this workspace's Cargo.lock, so the same dependency
# versions build offline. Usage: scripts/check_external_crate.sh [SCRATCH_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$(mktemp -d)}"
mkdir -p "$dir/src"
cat > "$dir/Cargo.toml" <<TOML
[package]
name = "uses-replay-models"
version = "0.1.0"
edition = "2021"

[dependencies]
replay-models = { path = "$root/crates/models" }
ndarray = "0.16"

[workspace]
TOML
cp "$root/Cargo.lock" "$dir/Cargo.lock"
cat > "$dir/src/main.rs" <<'RUST'
use ndarray::{Array1, Array2};
use replay_models::{forest, ForestParams};

fn main() {
    let x = Array2::from_shape_fn((200, 2), |(i, j)| ((i * 7 + j * 13) % 17) as f64);
    let y: Array1<bool> = x.rows().into_iter().map(|r| r[0] > 8.0).collect();
    let params = ForestParams { n_trees: 10, seed: 3, ..ForestParams::default() };
    let model = forest::fit(&params.check().expect("valid parameters"), x.view(), y.view()).expect("fits");
    let p = model.predict_proba(x.view()).expect("predicts");
    let correct = p.iter().zip(&y).filter(|(p, y)| (**p >= 0.5) == **y).count();
    assert!(correct >= 190, "{correct} of 200");
    println!("external crate: forest fitted, {correct} of 200 training rows right");
}
RUST
cd "$dir"
if cargo tree --offline -e normal --prefix none | grep -E '^(arrow|parquet|plotters) '; then
    echo "error: replay-models pulled in Arrow, Parquet or plotters" >&2
    exit 1
fi
cargo run --offline --quiet
