//! Fit time and test ROC-AUC of the tree ensembles on a CSV of tracks (the columns of
//! the Kaggle 170k `data.csv`, as `cargo xtask gen-data` writes them).
//!
//! ```text
//! cargo run --release -p replay-models --example ensemble_timing -- /tmp/synth.csv [forest|forest_no_oob|boosting|both]
//! ```
//!
//! Features: the 12 audio features, year and explicit; label popularity >= 50; a
//! stratified 80/20 split with a fixed seed.

use std::error::Error;
use std::time::Instant;

use ndarray::{Array1, Array2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use replay_models::{boosting, forest, BoostingParams, ForestParams};

const FEATURES: [&str; 14] = [
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
    "year",
    "explicit",
];

fn read(path: &str) -> Result<(Array2<f64>, Array1<bool>), Box<dyn Error>> {
    let mut reader = csv::Reader::from_path(path)?;
    let header = reader.headers()?.clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or(format!("no column {name}"))
    };
    let cols = FEATURES.iter().map(|f| col(f)).collect::<Result<Vec<_>, _>>()?;
    let pop = col("popularity")?;
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let record = record?;
        for &c in &cols {
            values.push(record[c].parse::<f64>().unwrap_or(f64::NAN));
        }
        labels.push(record[pop].parse::<f64>()? >= 50.0);
    }
    let x = Array2::from_shape_vec((labels.len(), FEATURES.len()), values)?;
    Ok((x, Array1::from(labels)))
}

/// CPU seconds used by the process so far, all threads (0 where /proc is missing).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are 12 and 13.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Stratified 80/20 split: (train rows, test rows).
fn split(y: &Array1<bool>) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut rows: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        rows.shuffle(&mut rng);
        let k = rows.len() / 5;
        test.extend_from_slice(&rows[..k]);
        train.extend_from_slice(&rows[k..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Rank-based ROC-AUC, ties counting one half.
fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let positives = order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        rank_sum += positives * (i + j + 2) as f64 / 2.0;
        i = j + 1;
    }
    let p = labels.iter().filter(|&&l| l).count() as f64;
    let q = labels.len() as f64 - p;
    (rank_sum - p * (p + 1.0) / 2.0) / (p * q)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or("usage: ensemble_timing DATA.csv [forest|forest_no_oob|boosting|both]")?;
    let which = args.get(2).map_or("both", String::as_str);
    let t = Instant::now();
    let (x, y) = read(path)?;
    let (train, test) = split(&y);
    let (xtr, ytr) = (x.select(Axis(0), &train), y.select(Axis(0), &train));
    let (xte, yte) = (x.select(Axis(0), &test), y.select(Axis(0), &test));
    let labels = yte.to_vec();
    println!(
        "rows={} train={} test={} threads={} read_s={:.3}",
        y.len(),
        train.len(),
        test.len(),
        rayon::current_num_threads(),
        t.elapsed().as_secs_f64()
    );
    if which == "forest" || which == "both" {
        let params = ForestParams::default();
        let (t, c) = (Instant::now(), cpu_s());
        let m = forest::fit(&params, xtr.view(), ytr.view())?;
        let (fit_s, fit_cpu) = (t.elapsed().as_secs_f64(), cpu_s() - c);
        let t = Instant::now();
        let p = m.predict_proba(xte.view());
        let nodes: usize = m.trees.iter().map(|t| t.nodes.len()).sum();
        println!(
            "random_forest_100   auc={:.4} fit_s={fit_s:.3} fit_cpu_s={fit_cpu:.2} pred_s={:.3} oob_auc={:.4} nodes={nodes}",
            auc(p.as_slice().ok_or("contiguous")?, &labels),
            t.elapsed().as_secs_f64(),
            m.oob_score.unwrap_or(f64::NAN),
        );
    }
    if which != "boosting" {
        let params = ForestParams {
            oob_score: false,
            ..Default::default()
        };
        let (t, c) = (Instant::now(), cpu_s());
        let m = forest::fit(&params, xtr.view(), ytr.view())?;
        let (fit_s, fit_cpu) = (t.elapsed().as_secs_f64(), cpu_s() - c);
        let p = m.predict_proba(xte.view());
        println!(
            "random_forest_no_oob auc={:.4} fit_s={fit_s:.3} fit_cpu_s={fit_cpu:.2}",
            auc(p.as_slice().ok_or("contiguous")?, &labels)
        );
    }
    if which == "boosting" || which == "both" {
        let params = BoostingParams::default();
        let (t, c) = (Instant::now(), cpu_s());
        let m = boosting::fit(&params, xtr.view(), ytr.view())?;
        let (fit_s, fit_cpu) = (t.elapsed().as_secs_f64(), cpu_s() - c);
        let t = Instant::now();
        let p = m.predict_proba(xte.view());
        println!(
            "gradient_boosting_100 auc={:.4} fit_s={fit_s:.3} fit_cpu_s={fit_cpu:.2} pred_s={:.3} trees={}",
            auc(p.as_slice().ok_or("contiguous")?, &labels),
            t.elapsed().as_secs_f64(),
            m.trees.len()
        );
    }
    Ok(())
}
