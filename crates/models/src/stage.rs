//! The train stage (feature `stage`): every configured model fitted on the inputs of a
//! feature stage's `train.parquet` that its kind reads, saved as
//! `<out_dir>/models/<name>.model.bin`. [`run`] schedules the fits; a [`ModelStore`]
//! (the pipeline's per-model cache, or [`NoStore`]) can provide a model that needs no
//! fitting.
//!
//! ```no_run
//! use replay_models::{stage, ModelConfig};
//! let forest = ModelConfig::RandomForest(Default::default());
//! let fitted = stage::run(
//!     &[stage::ModelJob::new("random_forest", &forest)],
//!     "out/features/train.parquet".as_ref(),
//!     "out/train".as_ref(),
//!     &stage::NoStore,
//!     &|_| {},
//! )?;
//! println!("{} fitted in {:.2}s", fitted[0].name, fitted[0].seconds);
//! # Ok::<(), stage::TrainError>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use replay_features::encode::fold_of_rows;
use replay_features::{FeatureError, FeatureMatrix, Ids, InputColumns};

use crate::refine::{refine, Refinement};
use crate::{Binned, ModelConfig, ModelError, ModelFamily, SavedModel};

/// One model of the train stage: its name, its hyperparameters, and what out-of-fold
/// predictions refine in it ([`crate::refine`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelJob<'a> {
    /// The model's name (its file is `<name>.model.bin`).
    pub name: &'a str,
    /// Its hyperparameters.
    pub config: &'a ModelConfig,
    /// Calibration and decision threshold to fit after it (none by default).
    pub refinement: Refinement,
}

impl<'a> ModelJob<'a> {
    /// A model with nothing to refine.
    pub fn new(name: &'a str, config: &'a ModelConfig) -> Self {
        ModelJob {
            name,
            config,
            refinement: Refinement::default(),
        }
    }
}

/// Directory of the train stage's model files.
pub const MODELS_DIR: &str = "models";

/// Training matrices up to this many cells (rows x inputs) fit their random forests
/// beside the other models: on small data a single model cannot keep every core busy
/// (boosting's short parallel steps, the tree's single thread), and a forest's trees fill
/// the gaps; the models of one family also share one read of their inputs
/// ([`SharedInputs`]). Larger data fits one model at a time, each reading its own inputs,
/// so that only one model's matrix is in memory.
pub const CONCURRENT_FIT_CELLS: usize = 8_000_000;

/// Why a model could not be fitted from a file.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The training file could not be read as a feature stage's output.
    #[error(transparent)]
    Data(#[from] FeatureError),
    /// The model could not be fitted, saved or read back.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Where models that need no fitting come from: the pipeline keeps each fitted model in
/// its cache, by hyperparameters and training data.
pub trait ModelStore: Sync {
    /// What the store's own failures are.
    type Error: From<TrainError> + Send;

    /// Put the file of model `job` at `target`: a stored one when one matches the job
    /// (and whatever else the store keys on), else the one `fit(dir)` writes into a
    /// directory of the store's choosing. Returns whether a stored file served.
    fn provide(
        &self,
        job: &ModelJob<'_>,
        target: &Path,
        fit: &(dyn Fn(&Path) -> Result<(), TrainError> + Sync),
    ) -> Result<bool, Self::Error>;

    /// Whether [`ModelStore::provide`] would serve `job` without fitting it. A hint only
    /// (false by default): [`run`] prepares inputs shared by several fits for the jobs
    /// that are not stored.
    fn is_stored(&self, _job: &ModelJob<'_>) -> bool {
        false
    }
}

/// No store: every model is fitted, straight into its target directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStore;

impl ModelStore for NoStore {
    type Error = TrainError;

    fn provide(
        &self,
        _job: &ModelJob<'_>,
        target: &Path,
        fit: &(dyn Fn(&Path) -> Result<(), TrainError> + Sync),
    ) -> Result<bool, TrainError> {
        fit(target.parent().unwrap_or(Path::new(".")))?;
        Ok(false)
    }
}

/// What [`run`] tells its progress callback.
#[derive(Debug, Clone, Copy)]
pub enum TrainEvent<'a> {
    /// Fitting (or fetching) this model began.
    Started(&'a str),
    /// This model is done.
    Finished(&'a str),
}

/// What fitting (or reusing) one model gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// The model's name.
    pub name: String,
    /// Wall time, including reading its inputs and writing its file.
    pub seconds: f64,
    /// Whether the store provided it.
    pub reused: bool,
    /// The model's fit warning (a logistic regression that did not converge).
    pub warning: Option<String>,
}

/// The train stage: fit `models` on `train` into `<out_dir>/models/`, or
/// take them from `store`. On small data ([`CONCURRENT_FIT_CELLS`]) the random forests
/// fit on every core beside the other models, which run one after another on one rayon
/// worker without helper threads; on larger data one model fits at a time. Returns the
/// models sorted by name.
pub fn run<S: ModelStore>(
    models: &[ModelJob<'_>],
    train: &Path,
    out_dir: &Path,
    store: &S,
    progress: &(dyn Fn(TrainEvent<'_>) + Sync),
) -> Result<Vec<Fitted>, S::Error> {
    let inputs = InputColumns::read(train).map_err(TrainError::from)?;
    let models_dir = out_dir.join(MODELS_DIR);
    let rows = replay_parquet::rows(train).map_err(|e| TrainError::Data(e.into()))?;
    let cells = rows.saturating_mul(inputs.names.len());
    let (forests, others): (Vec<_>, Vec<_>) = models
        .iter()
        .partition(|job| matches!(job.config, ModelConfig::RandomForest(_)));
    let small = cells <= CONCURRENT_FIT_CELLS;
    let concurrent = small && !forests.is_empty() && !others.is_empty();
    // Small data fits its models together, so they can share one read of their inputs.
    let shared = match small {
        true => {
            let to_fit: Vec<&ModelJob<'_>> = models.iter().filter(|j| !store.is_stored(j)).collect();
            SharedInputs::prepare(&to_fit, train, &inputs)?
        }
        false => None,
    };
    let fit = |job: &ModelJob<'_>| -> Result<Fitted, S::Error> {
        let ModelJob { name, config, .. } = *job;
        progress(TrainEvent::Started(name));
        let started = Instant::now();
        let target = models_dir.join(SavedModel::file_name(name));
        let reused = store.provide(job, &target, &|dir| {
            fit_file(job, train, &inputs, shared.as_ref(), dir).map(drop)
        })?;
        // Only a logistic regression has a fit warning, and its file is small to load.
        let warning = match config {
            ModelConfig::LogisticRegression(_) => SavedModel::load(&target)
                .map_err(TrainError::from)?
                .model
                .fit_warning()
                .map(|w| format!("{name} {w}")),
            _ => None,
        };
        progress(TrainEvent::Finished(name));
        Ok(Fitted {
            name: name.to_string(),
            seconds: started.elapsed().as_secs_f64(),
            reused,
            warning,
        })
    };
    let results: Vec<Result<Fitted, S::Error>> = if concurrent {
        // The other models run one after the other on this worker (boosting without
        // helper threads), while the forests' trees run on the other workers, and on this
        // one too once the others are done: as many busy threads as cores.
        let (mut done, forests_done) = rayon::join(
            || crate::team::without_helpers(|| others.iter().copied().map(&fit).collect::<Vec<_>>()),
            || forests.iter().copied().map(&fit).collect::<Vec<_>>(),
        );
        done.extend(forests_done);
        done
    } else {
        others.iter().chain(&forests).copied().map(fit).collect()
    };
    let mut fitted = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    fitted.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(fitted)
}

/// The inputs of one model family read once, and binned once, for the several models
/// [`run`] fits on small data (on larger data each model reads its own, so that one dense
/// copy is in memory at a time).
#[derive(Debug)]
pub struct SharedInputs {
    /// The columns read.
    names: Vec<String>,
    /// Their values and the labels.
    data: FeatureMatrix,
    /// The values binned, when two of the models bin them alike.
    binned: Option<Binned>,
}

impl SharedInputs {
    /// The inputs of the family most of `jobs` read, when at least two of them read it
    /// (binned when at least two of those bin it with the same `max_bins`).
    pub fn prepare(
        jobs: &[&ModelJob<'_>],
        train: &Path,
        inputs: &InputColumns,
    ) -> Result<Option<Self>, TrainError> {
        let families: Vec<_> = jobs.iter().map(|j| j.config.family()).collect();
        let most = families
            .iter()
            .max_by_key(|&f| (occurrences(&families, f), *f == ModelFamily::Trees));
        let Some(&family) = most.filter(|&f| occurrences(&families, f) >= 2) else {
            return Ok(None);
        };
        let bins: Vec<usize> = jobs
            .iter()
            .filter(|j| j.config.family() == family)
            .filter_map(|j| j.config.bins_inputs())
            .collect();
        let shared_bins = bins.iter().copied().find(|b| occurrences(&bins, b) >= 2);
        let names = inputs.names_for(family);
        let data = FeatureMatrix::read_columns(train, &names, Ids::Skip)?;
        let binned = match shared_bins {
            Some(max_bins) => Some(Binned::fit(data.x.view(), max_bins)?),
            None => None,
        };
        Ok(Some(SharedInputs { names, data, binned }))
    }
}

/// How many of `items` equal `item`.
fn occurrences<T: PartialEq>(items: &[T], item: &T) -> usize {
    items.iter().filter(|&i| i == item).count()
}

/// Fit model `job` on the training file `train` (whose inputs are `inputs`, from
/// [`InputColumns::read`]), then its refinement on out-of-fold predictions, and save it
/// into `dir`. The model's family's columns come from `shared` when it holds them, else
/// only they are loaded, so one dense copy of its inputs is in memory. Returns the model
/// file's path.
pub fn fit_file(
    job: &ModelJob<'_>,
    train: &Path,
    inputs: &InputColumns,
    shared: Option<&SharedInputs>,
    dir: &Path,
) -> Result<PathBuf, TrainError> {
    let ModelJob {
        name,
        config,
        refinement,
    } = *job;
    let names = inputs.names_for(config.family());
    let shared = shared.filter(|s| s.names == names);
    let mut own = None;
    let (data, binned) = match shared {
        Some(s) => (&s.data, s.binned.as_ref()),
        None => (
            &*own.insert(FeatureMatrix::read_columns(train, &names, Ids::Skip)?),
            None,
        ),
    };
    let model = crate::fit_binned(config, data.x.view(), data.y.view(), binned)?;
    // The target encoding's folds (when the refinement's folds and seed are its own),
    // so that held-out rows are encoded from the rows their model is fitted on.
    let fold = match refinement.is_needed() {
        true => fold_of_rows(data.y.len(), refinement.folds, refinement.seed),
        false => Vec::new(),
    };
    let refined = refine(config, data.x.view(), data.y.view(), &refinement, &fold)?;
    drop(own);
    let path = dir.join(SavedModel::file_name(name));
    SavedModel::new(name, config.clone(), names, model)
        .refined(refined)
        .save(&path)?;
    Ok(path)
}
