//! What out-of-fold predictions of the training rows add to a model fitted on all of them:
//! a calibration map ([`Calibrator`]) and a decision threshold ([`OperatingPoint`]).
//!
//! The training rows are split into folds; each fold is predicted by the same model kind
//! fitted on the other folds, so every training row gets an output from a model that never
//! saw it (as scikit-learn's `CalibratedClassifierCV(ensemble=False)`). The train stage
//! uses the folds of the target encoding (`replay_features::encode::fold_of_rows`): a
//! held-out row's target means then come from exactly the rows its model was fitted on, as
//! a test row's come from all the training rows, so the held-out outputs look like test
//! outputs. The
//! calibration map is fitted to those outputs (in the model's output space: log-odds or
//! probability, see [`crate::explain::OutputSpace`]) and the threshold is chosen on the
//! out-of-fold probabilities, calibrated when there is a map. Test rows are never used.
//!
//! ```
//! use ndarray::{array, Array1};
//! use replay_models::refine::{refine, stratified_folds, CalibrationMethod, Refinement, ThresholdRule};
//! use replay_models::{ForestParams, ModelConfig};
//! let x = ndarray::Array2::from_shape_fn((200, 2), |(i, j)| ((i * 37 + j * 11) % 100) as f64);
//! let y: Array1<bool> = x.column(0).mapv(|v| v > 40.0);
//! let config = ModelConfig::RandomForest(ForestParams { n_trees: 10, seed: 1, ..Default::default() });
//! let refinement = Refinement {
//!     calibration: Some(CalibrationMethod::Isotonic),
//!     operating_point: Some(ThresholdRule::MaxF1),
//!     ..Refinement::default()
//! };
//! let fold = stratified_folds(y.view(), 5, 42)?;
//! let refined = refine(&config, x.view(), y.view(), &refinement, &fold)?;
//! assert!(refined.calibrator.is_some() && refined.operating_point.is_some());
//! # Ok::<(), replay_models::ModelError>(())
//! ```

use ndarray::{Array1, ArrayView1, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use replay_metrics::calibration::{choose_threshold, CalibrationMethod, Calibrator, ThresholdRule};

use crate::params::{check, invalid, rule};
use crate::{ModelConfig, ModelError, OutputSpace};

/// What to fit on out-of-fold predictions after a model is fitted on all training rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refinement {
    /// The calibration map to fit, if any.
    pub calibration: Option<CalibrationMethod>,
    /// How to choose the decision threshold, if it is chosen.
    pub operating_point: Option<ThresholdRule>,
    /// Folds of the training rows (at least 2); the model is fitted this many more times.
    pub folds: usize,
    /// Seed of the rows' shuffle into folds.
    pub seed: u64,
}

impl Default for Refinement {
    /// Nothing to fit; 5 folds, seed 42 when something is.
    fn default() -> Self {
        Refinement {
            calibration: None,
            operating_point: None,
            folds: 5,
            seed: 42,
        }
    }
}

impl Refinement {
    /// Whether anything is fitted (and the model fitted `folds` more times).
    pub fn is_needed(&self) -> bool {
        self.calibration.is_some() || self.operating_point.is_some()
    }

    /// Check the folds and the threshold rule.
    pub fn check(&self) -> Result<(), ModelError> {
        check("folds", rule::at_least(self.folds, 2))?;
        match self.operating_point.and_then(|r| r.defect()) {
            Some(message) => Err(invalid("operating_point", message)),
            None => Ok(()),
        }
    }
}

/// A decision threshold and the rule that chose it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatingPoint {
    /// How it was chosen.
    pub rule: ThresholdRule,
    /// Songs whose (calibrated) probability is at least this are predicted replayed.
    pub threshold: f64,
}

/// What [`refine`] fitted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Refined {
    /// The calibration map, when one was asked for.
    pub calibrator: Option<Calibrator>,
    /// The chosen threshold, when a rule was given.
    pub operating_point: Option<OperatingPoint>,
}

/// Fit what `refinement` asks for, from out-of-fold outputs of `config` on `x` and `y`
/// with row `i` in fold `fold[i]` (nothing is fitted when nothing is asked for).
pub fn refine(
    config: &ModelConfig,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
    refinement: &Refinement,
    fold: &[usize],
) -> Result<Refined, ModelError> {
    refinement.check()?;
    if !refinement.is_needed() {
        return Ok(Refined::default());
    }
    let (outputs, space) = out_of_fold_outputs(config, x, y, fold)?;
    let outputs = outputs.to_vec();
    if let Some(i) = outputs.iter().position(|o| !o.is_finite()) {
        let message = format!("the out-of-fold output of training row {i} is {}", outputs[i]);
        return Err(invalid("calibration", message));
    }
    let labels = y.to_vec();
    let metric = |e: replay_metrics::MetricError| invalid("calibration", e.to_string());
    let calibrator = refinement
        .calibration
        .map(|method| Calibrator::fit(method, &outputs, &labels))
        .transpose()
        .map_err(metric)?;
    let operating_point = match refinement.operating_point {
        None => None,
        Some(rule) => {
            let p: Vec<f64> = outputs
                .iter()
                .map(|&o| probability(space, calibrator.as_ref(), o))
                .collect();
            let threshold = choose_threshold(rule, &labels, &p).map_err(metric)?;
            Some(OperatingPoint { rule, threshold })
        }
    };
    Ok(Refined {
        calibrator,
        operating_point,
    })
}

/// The probability of a model `output` in `space`, through `calibrator` when there is one.
pub fn probability(space: OutputSpace, calibrator: Option<&Calibrator>, output: f64) -> f64 {
    match calibrator {
        Some(c) => c.probability(output),
        None => space.probability(output),
    }
}

/// The output ([`crate::Model::predict_output`]) of every training row from a model of
/// `config` fitted on the rows of the other folds (row `i` is in fold `fold[i]`; every
/// fold must leave both classes to fit on), and the space of those outputs.
pub fn out_of_fold_outputs(
    config: &ModelConfig,
    x: ArrayView2<'_, f64>,
    y: ArrayView1<'_, bool>,
    fold: &[usize],
) -> Result<(Array1<f64>, OutputSpace), ModelError> {
    crate::check_training_data(x, y)?;
    if fold.len() != y.len() {
        return Err(invalid(
            "folds",
            format!("{} folds for {} rows", fold.len(), y.len()),
        ));
    }
    let folds = fold.iter().max().map_or(0, |f| f + 1);
    check("folds", rule::at_least(folds, 2))?;
    let mut outputs = Array1::zeros(y.len());
    let mut space = OutputSpace::Probability;
    for k in 0..folds {
        let (held, kept): (Vec<usize>, Vec<usize>) = (0..y.len()).partition(|&i| fold[i] == k);
        let model = crate::fit(
            config,
            x.select(Axis(0), &kept).view(),
            y.select(Axis(0), &kept).view(),
        )?;
        let predicted = model.predict_output(x.select(Axis(0), &held).view())?;
        space = model.output_space();
        for (&i, &o) in held.iter().zip(&predicted) {
            outputs[i] = o;
        }
    }
    Ok((outputs, space))
}

/// Stratified folds for [`refine`] when no others are given: each class shuffled by a
/// ChaCha8 generator seeded with `seed`, then dealt to the folds in turn. Each class must
/// have at least `folds` rows, so that every fold holds both.
pub fn stratified_folds(y: ArrayView1<'_, bool>, folds: usize, seed: u64) -> Result<Vec<usize>, ModelError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold = vec![0; y.len()];
    let mut dealt = 0;
    for class in [true, false] {
        let mut rows: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        if rows.len() < folds {
            return Err(invalid(
                "folds",
                format!(
                    "{folds} folds need at least {folds} rows of each class, {} has {}",
                    if class { "replayed" } else { "not replayed" },
                    rows.len()
                ),
            ));
        }
        rows.shuffle(&mut rng);
        for i in rows {
            fold[i] = dealt % folds;
            dealt += 1;
        }
    }
    Ok(fold)
}
