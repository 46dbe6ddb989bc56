//! `cargo xtask bench`: fit and predict time and test ROC-AUC of the default models
//! (`PipelineConfig::default().models`: hyperparameters as scikit-learn's and LightGBM's
//! defaults, e.g. 100 full-depth trees for the forest; with `--config-models`, the
//! config's own `[models]`) on one data file, with a config's columns and stratified 80/20
//! split (the seed's features), and the time to explain the first test rows with each (at
//! most `--explain-rows`, and fewer for models of many tree nodes).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use replay_features::{build, FeatureMatrix};
use replay_pipeline::PipelineConfig;

/// Tree nodes × rows a `bench explain_<model>` line may cost (about 20 s of one core at
/// 40 ns a node and row): models with more nodes explain fewer of the first test rows.
const EXPLAIN_NODE_ROWS: u64 = 500_000_000;

/// The fewest rows a `bench explain_<model>` line explains (when `--explain-rows` allows).
const MIN_EXPLAINED_ROWS: usize = 10;

/// One model's figures.
struct Figures {
    name: String,
    fit_s: f64,
    predict_s: f64,
    roc_auc: f64,
    rows: usize,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Run the benchmark of the default models (`config`'s own when `config_models`) on
/// `input` read with `config`'s columns and split, `repeats` fits and predictions each.
/// `only` restricts the run to the named models (all when empty); the first
/// `explain_rows` test rows are explained (none when 0).
pub fn run(
    config: &PipelineConfig,
    input: &Path,
    repeats: usize,
    only: &[String],
    config_models: bool,
    explain_rows: usize,
) -> Result<()> {
    let repeats = repeats.max(1);
    let started = Instant::now();
    let tracks = config.read_tracks(input, &config.ingest, &ProgressBar::hidden())?;
    let set = build(tracks.schema.clone(), &tracks.batches, &config.features_config())?;
    let train = FeatureMatrix::from_batch(&set.train)?;
    let test = FeatureMatrix::from_batch(&set.test)?;
    let y_test = test.y.to_vec();
    eprintln!(
        "read and split {} in {:.2}s: {} train / {} test rows, {} features ({})",
        input.display(),
        started.elapsed().as_secs_f64(),
        train.x.nrows(),
        test.x.nrows(),
        train.names.len(),
        train.names.join(", ")
    );
    let mut all = Vec::new();
    let models = if config_models {
        config.models.clone()
    } else {
        PipelineConfig::default().models
    };
    if let Some(unknown) = only
        .iter()
        .find(|o| !models.keys().any(|k| k.as_str() == o.as_str()))
    {
        anyhow::bail!(
            "unknown model '{unknown}'; the models are {:?}",
            models.keys().map(|k| k.as_str()).collect::<Vec<_>>()
        );
    }
    for (name, model_config) in models
        .iter()
        .filter(|(k, _)| only.is_empty() || only.iter().any(|o| o == k.as_str()))
    {
        let names = train.names_for(model_config.family());
        let (x_train, x_test) = (train.select(&names)?, test.select(&names)?);
        let (mut fits, mut predicts, mut explains, mut auc) = (Vec::new(), Vec::new(), Vec::new(), f64::NAN);
        let mut explained_rows = 0;
        for _ in 0..repeats {
            let t = Instant::now();
            let model = replay_models::fit(model_config, x_train.view(), train.y.view())
                .with_context(|| format!("fitting {name}"))?;
            fits.push(t.elapsed().as_secs_f64());
            explained_rows = model.affordable_rows(
                explain_rows.min(x_test.nrows()),
                EXPLAIN_NODE_ROWS,
                MIN_EXPLAINED_ROWS,
            );
            let explained = x_test.slice(ndarray::s![..explained_rows, ..]);
            let t = Instant::now();
            let p = model.predict_proba(x_test.view())?;
            predicts.push(t.elapsed().as_secs_f64());
            auc = replay_eval::metrics::roc_auc(&y_test, p.as_slice().unwrap_or(&p.to_vec()))?;
            if explained_rows > 0 {
                let t = Instant::now();
                model.contributions(explained)?;
                explains.push(t.elapsed().as_secs_f64());
            }
        }
        let figures = Figures {
            name: name.to_string(),
            fit_s: median(fits),
            predict_s: median(predicts),
            roc_auc: auc,
            rows: train.x.nrows(),
        };
        println!(
            "bench {} fit_s={:.3} predict_s={:.3} roc_auc={:.4} rows={}",
            figures.name, figures.fit_s, figures.predict_s, figures.roc_auc, figures.rows
        );
        // Contributions of the first test rows (exact SHAP values), against the fit time.
        if !explains.is_empty() {
            let explain_s = median(explains);
            println!(
                "bench explain_{} seconds={explain_s:.3} rows={} fit_share={:.3}",
                figures.name,
                explained_rows,
                explain_s / figures.fit_s
            );
        }
        all.push(figures);
    }
    println!(
        "\n{:<22} {:>9} {:>11} {:>8}  (median of {repeats})",
        "model", "fit s", "predict s", "ROC-AUC"
    );
    for f in &all {
        println!(
            "{:<22} {:>9.3} {:>11.3} {:>8.4}",
            f.name, f.fit_s, f.predict_s, f.roc_auc
        );
    }
    Ok(())
}
