//! Fit a random forest and gradient boosting on a plain `ndarray` matrix, save both,
//! load them back and predict: the models crate on its own, without Arrow or the pipeline.
//!
//! `cargo run --release -p replay-models --example fit_on_ndarray`

use ndarray::{s, Array1, Array2};
use replay_models::{fit, BoostingParams, ForestParams, ModelConfig, SavedModel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 4,000 rows of 3 inputs; "replayed" when energy + danceability is high, with noise.
    let n = 4000;
    let mut state = 7u64;
    let mut uniform = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let x = Array2::from_shape_fn((n, 3), |_| uniform());
    let y: Array1<bool> = x
        .rows()
        .into_iter()
        .map(|r| r[0] + r[1] + 0.3 * (uniform() - 0.5) > 1.0)
        .collect();
    let (x_train, y_train) = (x.slice(s![..3000, ..]), y.slice(s![..3000]));
    let (x_test, y_test) = (x.slice(s![3000.., ..]), y.slice(s![3000..]).to_vec());

    let configs = [
        ModelConfig::RandomForest(ForestParams {
            n_trees: 50,
            seed: 1,
            ..ForestParams::default()
        }),
        ModelConfig::GradientBoosting(BoostingParams::default()),
    ];
    let dir = std::env::temp_dir().join(format!("replay-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for config in configs {
        let name = config.kind();
        let model = fit(&config, x_train, y_train)?;
        let inputs = vec!["energy".into(), "danceability".into(), "tempo".into()];
        let path = dir.join(SavedModel::file_name(name));
        SavedModel::new(name, config, inputs, model).save(&path)?;
        // Loading checks the whole file; the loaded model predicts bit for bit the same.
        let p = SavedModel::load(&path)?.predict_proba(x_test)?.to_vec();
        let auc = replay_metrics::roc_auc(&y_test, &p)?;
        println!("{name:<18} test ROC-AUC {auc:.3}  (saved to {})", path.display());
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
