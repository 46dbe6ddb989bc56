//! `cargo xtask tune`: choose hyperparameters honestly. The config's split sets the test
//! rows aside untouched; the training tracks are split again (stratified, another seed)
//! into an inner training part and a validation part, features are fitted on the inner
//! training part only (target encodings included), and a small grid of every configured
//! model kind is scored by validation ROC-AUC.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use replay_features::{build, training_tracks, FeatureMatrix, SplitConfig};
use replay_models::{MaxFeatures, ModelConfig};
use replay_pipeline::PipelineConfig;

/// The candidates tried for one configured model: variations of its hyperparameters.
fn candidates(config: &ModelConfig) -> Vec<(String, ModelConfig)> {
    let mut out = Vec::new();
    match config {
        ModelConfig::LogisticRegression(p) => {
            for c in [0.01, 0.1, 1.0, 10.0] {
                let mut q = p.clone();
                q.c = c;
                out.push((format!("c={c}"), ModelConfig::LogisticRegression(q)));
            }
        }
        ModelConfig::DecisionTree(p) => {
            for depth in [4, 6, 8, 10] {
                for leaf in [1, 20, 50] {
                    let mut q = p.clone();
                    q.max_depth = depth;
                    q.min_samples_leaf = leaf;
                    out.push((
                        format!("max_depth={depth} min_samples_leaf={leaf}"),
                        ModelConfig::DecisionTree(q),
                    ));
                }
            }
        }
        ModelConfig::RandomForest(p) => {
            for leaf in [1, 3, 5, 10] {
                for (name, features) in [("sqrt", MaxFeatures::Sqrt), ("0.33", MaxFeatures::Fraction(0.33))] {
                    let mut q = p.clone();
                    q.min_samples_leaf = leaf;
                    q.max_features = features;
                    out.push((
                        format!("min_samples_leaf={leaf} max_features={name}"),
                        ModelConfig::RandomForest(q),
                    ));
                }
            }
        }
        ModelConfig::GradientBoosting(p) => {
            for (n_iter, rate) in [(100, 0.1), (200, 0.05), (400, 0.05), (800, 0.025)] {
                for leaves in [15, 31] {
                    for leaf in [20, 50] {
                        let mut q = p.clone();
                        q.n_iter = n_iter;
                        q.learning_rate = rate;
                        q.max_leaves = leaves;
                        q.min_samples_leaf = leaf;
                        out.push((
                            format!(
                                "n_iter={n_iter} learning_rate={rate} max_leaves={leaves} min_samples_leaf={leaf}"
                            ),
                            ModelConfig::GradientBoosting(q),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// Score the candidates of every configured model (or of `only`) on a validation split of
/// the training tracks of `input` read with `config`; print one line per candidate and the
/// best per model.
pub fn run(config: &PipelineConfig, input: &Path, validation_fraction: f64, only: &[String]) -> Result<()> {
    let started = Instant::now();
    let tracks = config.read_tracks(input, &config.ingest, &ProgressBar::hidden())?;
    let features = config.features_config();
    let train_tracks = training_tracks(tracks.schema.clone(), &tracks.batches, &features)?;
    let mut inner = features.clone();
    inner.split = SplitConfig {
        test_fraction: validation_fraction,
        stratify: true,
        seed: features.split.seed.wrapping_add(1),
    };
    let set = build(train_tracks.schema(), &[train_tracks], &inner)?;
    let (fit_part, valid) = (
        FeatureMatrix::from_batch(&set.train)?,
        FeatureMatrix::from_batch(&set.test)?,
    );
    eprintln!(
        "tuning on {} inner-training / {} validation rows of the training tracks ({:.1}s to prepare)",
        fit_part.x.nrows(),
        valid.x.nrows(),
        started.elapsed().as_secs_f64()
    );
    let y_valid = valid.y.to_vec();
    for (name, model_config) in config
        .models
        .iter()
        .filter(|(k, _)| only.is_empty() || only.iter().any(|o| o == k.as_str()))
    {
        let names = fit_part.names_for(model_config.family());
        let (x_fit, x_valid) = (fit_part.select(&names)?, valid.select(&names)?);
        let mut best: Option<(f64, String)> = None;
        for (label, candidate) in candidates(model_config) {
            let t = Instant::now();
            let model = replay_models::fit(&candidate, x_fit.view(), fit_part.y.view())
                .with_context(|| format!("fitting {name} {label}"))?;
            let p = model.predict_proba(x_valid.view())?.to_vec();
            let auc = replay_eval::metrics::roc_auc(&y_valid, &p)?;
            println!(
                "tune {name} {label} validation_roc_auc={auc:.4} fit_s={:.2}",
                t.elapsed().as_secs_f64()
            );
            if best.as_ref().is_none_or(|(b, _)| auc > *b) {
                best = Some((auc, label));
            }
        }
        if let Some((auc, label)) = best {
            println!("best {name}: {label} (validation ROC-AUC {auc:.4})");
        }
    }
    Ok(())
}
