//! Metrics from two vectors, labels and predicted probabilities: the eval crate on its own.
//!
//! `cargo run --release -p replay-eval --no-default-features --example metrics`

use replay_eval::{evaluate, metrics, EvalConfig};

fn main() -> Result<(), replay_eval::MetricError> {
    let y = [true, false, true, true, false, false, true, false, false, true];
    let p = [0.92, 0.15, 0.66, 0.48, 0.52, 0.08, 0.81, 0.33, 0.61, 0.74];
    let m = evaluate(&y, &p, &EvalConfig::default())?;
    println!("accuracy  {:.3}", m.accuracy);
    println!(
        "precision {:.3}  recall {:.3}  F1 {:.3}",
        m.precision, m.recall, m.f1
    );
    let ci = m.confidence_intervals.as_ref().map(|c| c.roc_auc);
    println!("ROC-AUC   {:.3}  (95% bootstrap interval {ci:?})", m.roc_auc);
    println!("confusion [[TN, FP], [FN, TP]] = {:?}", m.confusion_matrix);
    println!("Brier     {:.4}", metrics::brier(&y, &p));
    Ok(())
}
