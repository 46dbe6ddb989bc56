//! Times `MetricsReport::compute` and `report::write_report` on synthetic predictions of
//! four models (two with many tied scores, like trees), and writes `metrics.json` and the
//! report into a directory so runs can be compared.
//!
//! `cargo run --release -p replay-eval --example eval_timing -- [rows] [resamples] [out_dir]`
//! (defaults: 340000 rows, 1000 resamples, no files written).

use std::path::PathBuf;
use std::time::Instant;

use replay_eval::report::{write_report, DatasetSummary, ReportInput, ReportPage};
use replay_eval::{EvalConfig, MetricsReport};

/// A small deterministic generator (SplitMix64) so the data needs no extra crate.
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal: the sum of four uniforms, centred and scaled.
    fn normal(&mut self) -> f64 {
        ((0..4).map(|_| self.next_f64()).sum::<f64>() - 2.0) * 1.732
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Labels (about 30% replayed) and the probabilities of four models of varied quality.
fn synthetic(rows: usize) -> (Vec<bool>, Vec<(String, Vec<f64>)>) {
    let mut rng = SplitMix(7);
    let mut y = Vec::with_capacity(rows);
    let mut models: Vec<(String, Vec<f64>)> = [
        "decision_tree",
        "gradient_boosting",
        "logistic_regression",
        "random_forest",
    ]
    .iter()
    .map(|n| (n.to_string(), Vec::with_capacity(rows)))
    .collect();
    for _ in 0..rows {
        let label = rng.next_f64() < 0.3;
        let signal = if label { 1.0 } else { -1.0 };
        y.push(label);
        let score = |strength: f64, noise: f64, rng: &mut SplitMix| {
            sigmoid(strength * signal - 0.8 + noise * rng.normal())
        };
        let tree = (score(0.8, 1.0, &mut rng) * 40.0).round() / 40.0;
        let boosting = score(1.1, 1.0, &mut rng);
        let logistic = score(0.9, 1.1, &mut rng);
        let forest = (score(1.0, 1.0, &mut rng) * 300.0).round() / 300.0;
        for (m, v) in models.iter_mut().zip([tree, boosting, logistic, forest]) {
            m.1.push(v);
        }
    }
    (y, models)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: usize = args.first().map_or(Ok(340_000), |a| a.parse())?;
    let resamples: usize = args.get(1).map_or(Ok(1000), |a| a.parse())?;
    let out_dir = args.get(2).map(PathBuf::from);
    let (y, predictions) = synthetic(rows);
    let config = EvalConfig {
        bootstrap_samples: resamples,
        ..Default::default()
    };
    let start = Instant::now();
    let metrics = MetricsReport::compute(
        &y,
        predictions.iter().map(|(n, p)| (n.as_str(), p.as_slice())),
        &config,
    )?;
    println!(
        "compute: {rows} rows, {} models, {resamples} resamples: {:.3} s",
        predictions.len(),
        start.elapsed().as_secs_f64()
    );
    let Some(dir) = out_dir else {
        return Ok(());
    };
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join(replay_eval::METRICS_FILE),
        serde_json::to_string_pretty(&metrics)?,
    )?;
    let dataset = DatasetSummary {
        test_rows: rows,
        positive_rate: metrics.test_set.positive_rate,
        ..Default::default()
    };
    let page = ReportPage {
        title: "timing",
        dataset: &dataset,
        calibration_bins: config.calibration_bins,
        explain_songs: 0,
        config: "",
        cache_keys: &[],
    };
    let input = ReportInput {
        page: &page,
        metrics: &metrics,
        labels: &y,
        predictions: &predictions,
        importances: &[],
        explanations: &[],
    };
    let start = Instant::now();
    let charts = write_report(&input, &dir)?;
    println!(
        "write_report: {} charts: {:.3} s",
        charts.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
