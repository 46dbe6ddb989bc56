//! Versioned model files.
//!
//! Format 3 (`<name>.model.bin`), all numbers little-endian:
//!
//! | bytes | content |
//! | --- | --- |
//! | 8 | magic [`MODEL_MAGIC`] |
//! | 4 | format version (`u32`, [`MODEL_FORMAT`]) |
//! | 4 | header length `h` (`u32`, at most [`MAX_HEADER_BYTES`]) |
//! | `h` | header: compact JSON with the name, config, feature names, the model's scalar fields (logistic coefficients, boosting initial score, importances, ...) and the tree totals |
//! | 32 | BLAKE3 hash of everything above (lets [`SavedModel::read_summary`] trust the header without reading the trees) |
//! | per tree | node count `n` (`u32`), then `n` nodes of 16 bytes: value (`f64`), feature and missing-left flag (`u32`), first child (`u32`); then the cover count `c` (`u32`, 0 or `n`) and `c` node covers (`f32`, see [`Tree::cover`]) |
//! | 32 | BLAKE3 hash of everything above |
//!
//! Writing is buffered and atomic. Reading streams through a `BufReader` straight into
//! the final node arrays and checks everything before a model is returned: magic, version,
//! both hashes, the file length against the header's totals, every length against the
//! bytes that remain (a hostile length cannot make it allocate more than the file holds),
//! every tree's structure ([`crate::tree`]: children in range and after their parent,
//! features below `n_features`, no NaN threshold, finite leaves) and the consistency of
//! names, config and model. Every failure is an error naming the file.
//!
//! Format 2 is format 3 without the cover counts and covers; format 1
//! (`<name>.model.json.gz`, gzip-compressed JSON). Both, written by older versions, still
//! load with the same checks, as trees without cover.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use ndarray::{Array1, ArrayView2};
use serde::{Deserialize, Serialize};

use replay_core::{atomic, ArtifactError};

use crate::boosting::GradientBoosting;
use crate::forest::RandomForest;
use crate::logistic::LogisticModel;
use crate::refine::{CalibrationMethod, Calibrator, OperatingPoint, Refined};
use crate::tree::{check_cover, check_packed, PackedNode, Tree, MAX_TREE_FEATURES};
use crate::{Model, ModelConfig, ModelError};

/// Format version of the model files [`SavedModel::save`] writes. [`SavedModel::load`]
/// reads this version, format 2 (no node covers) and format 1 (gzip JSON).
pub const MODEL_FORMAT: u32 = 3;

/// The oldest binary format [`SavedModel::load`] reads.
const OLDEST_BINARY_FORMAT: u32 = 2;

/// Extension of model files: `<name>.model.bin`.
pub const MODEL_EXTENSION: &str = "model.bin";

/// The first bytes of a binary (format 2 or 3) model file (a non-ASCII first byte and a line feed, so
/// text-mode transfers that damage the file are caught at once).
pub const MODEL_MAGIC: [u8; 8] = *b"\x89RPLYMD\n";

/// Largest header a model file may declare, in bytes.
pub const MAX_HEADER_BYTES: u32 = 64 << 20;

/// Bytes of one stored tree node.
const NODE_BYTES: usize = 16;
/// Bytes of a BLAKE3 hash.
const HASH_BYTES: usize = 32;
/// Bytes before the header: magic, version, header length.
const PREFIX_BYTES: usize = 16;
/// Nodes decoded per read while loading.
const NODES_PER_READ: usize = 4096;

/// A fitted model with what is needed to use it safely later: its name, its config and
/// the names of the inputs it was fitted on, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    /// Format version of the file it was read from ([`MODEL_FORMAT`] for a new model).
    pub format_version: u32,
    /// The model's name in the pipeline config.
    pub name: String,
    /// The hyperparameters it was fitted with.
    pub config: ModelConfig,
    /// Input names, in column order.
    pub feature_names: Vec<String>,
    /// The fitted model.
    pub model: Model,
    /// The calibration map of its probabilities, fitted on out-of-fold training outputs
    /// ([`crate::refine`]); [`SavedModel::predict_proba`] applies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrator: Option<Calibrator>,
    /// The decision threshold chosen on out-of-fold training predictions, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_point: Option<OperatingPoint>,
}

/// What a model file holds, read from its header alone by [`SavedModel::read_summary`]
/// (the node arrays are skipped, not loaded).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    /// Format version of the file.
    pub format_version: u32,
    /// The model's name in the pipeline config.
    pub name: String,
    /// The model kind, as in config files (`random_forest`, ...).
    pub kind: &'static str,
    /// The hyperparameters it was fitted with.
    pub config: ModelConfig,
    /// Input names, in column order.
    pub feature_names: Vec<String>,
    /// Importance of every input (tree ensembles only), summing to 1.
    pub feature_importances: Option<Vec<f64>>,
    /// Number of trees (0 for logistic regression, 1 for the decision tree).
    pub trees: u64,
    /// Nodes of all trees.
    pub nodes: u64,
    /// Leaves of all trees.
    pub leaves: u64,
    /// Depth of the deepest leaf of any tree (root = 0).
    pub max_depth: u64,
    /// Nodes with a stored cover: all of them for a model whose trees can be explained
    /// ([`crate::explain`]), 0 for files of format 2 and models without trees.
    pub covered: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// The calibration map's method, if the model has one.
    pub calibration: Option<CalibrationMethod>,
    /// The decision threshold chosen in training, if one was.
    pub operating_point: Option<OperatingPoint>,
    /// A random forest's out-of-bag ROC-AUC, when it was asked for (`oob_score`).
    pub oob_roc_auc: Option<f64>,
}

/// Totals over the trees of a model, stored in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeTotals {
    count: u64,
    nodes: u64,
    leaves: u64,
    max_depth: u64,
    /// Node covers stored (format 3; absent, hence 0, in format 2).
    #[serde(default)]
    covered: u64,
}

impl TreeTotals {
    fn of(trees: &[Tree]) -> Self {
        TreeTotals {
            count: trees.len() as u64,
            nodes: trees.iter().map(|t| t.n_nodes() as u64).sum(),
            leaves: trees.iter().map(|t| t.n_leaves() as u64).sum(),
            max_depth: trees.iter().map(|t| t.depth() as u64).max().unwrap_or(0),
            covered: trees
                .iter()
                .map(|t| t.cover().map_or(0, |c| c.len() as u64))
                .sum(),
        }
    }
}

/// The model's fields other than its trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum Fitted {
    LogisticRegression(LogisticModel),
    DecisionTree {},
    RandomForest {
        oob_score: Option<f64>,
        feature_importances: Vec<f64>,
    },
    GradientBoosting {
        init_score: f64,
        feature_importances: Vec<f64>,
        validation_loss: Option<f64>,
    },
}

/// The JSON header of a format-2 file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    config: ModelConfig,
    feature_names: Vec<String>,
    n_features: usize,
    model: Fitted,
    trees: TreeTotals,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    calibrator: Option<Calibrator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operating_point: Option<OperatingPoint>,
}

/// The trees of a model, in order.
pub(crate) fn trees_of(model: &Model) -> &[Tree] {
    match model {
        Model::LogisticRegression(_) => &[],
        Model::DecisionTree(t) => std::slice::from_ref(t),
        Model::RandomForest(m) => &m.trees,
        Model::GradientBoosting(m) => &m.trees,
    }
}

/// An [`ArtifactError::Invalid`] on `path`.
fn invalid(path: &Path, message: impl Into<String>) -> ModelError {
    ArtifactError::Invalid {
        path: path.into(),
        message: message.into(),
    }
    .into()
}

/// A writer that hashes what it writes.
struct HashingWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> HashingWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.inner.write_all(bytes)
    }
}

/// A reader that hashes what it reads and knows how many bytes of the file remain.
struct HashingReader<'p, R> {
    inner: R,
    hasher: blake3::Hasher,
    remaining: u64,
    path: &'p Path,
}

impl<R: Read> HashingReader<'_, R> {
    /// Fill `buf` exactly (hashed), failing cleanly at the end of the file.
    fn take(&mut self, buf: &mut [u8], what: &str) -> Result<(), ModelError> {
        self.take_unhashed(buf, what)?;
        self.hasher.update(buf);
        Ok(())
    }

    fn take_unhashed(&mut self, buf: &mut [u8], what: &str) -> Result<(), ModelError> {
        if (buf.len() as u64) > self.remaining {
            return Err(invalid(
                self.path,
                format!(
                    "truncated: {what} needs {} bytes, {} remain",
                    buf.len(),
                    self.remaining
                ),
            ));
        }
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                invalid(self.path, format!("truncated while reading {what}"))
            } else {
                ArtifactError::io(self.path, e).into()
            }
        })?;
        self.remaining -= buf.len() as u64;
        Ok(())
    }

    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        let mut b = [0u8; 4];
        self.take(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Read a hash (not itself hashed) and compare it with the hash of everything read.
    fn check_hash(&mut self, what: &str) -> Result<(), ModelError> {
        let expected = self.hasher.finalize();
        let mut stored = [0u8; HASH_BYTES];
        self.take_unhashed(&mut stored, what)?;
        if stored != *expected.as_bytes() {
            return Err(invalid(
                self.path,
                format!("{what} does not match the content: the file is corrupt"),
            ));
        }
        self.hasher.update(&stored);
        Ok(())
    }
}

impl SavedModel {
    /// Wrap a fitted model.
    pub fn new(name: &str, config: ModelConfig, feature_names: Vec<String>, model: Model) -> Self {
        SavedModel {
            format_version: MODEL_FORMAT,
            name: name.to_string(),
            config,
            feature_names,
            model,
            calibrator: None,
            operating_point: None,
        }
    }

    /// This model with what [`crate::refine::refine`] fitted for it.
    pub fn refined(self, refined: Refined) -> Self {
        SavedModel {
            calibrator: refined.calibrator,
            operating_point: refined.operating_point,
            ..self
        }
    }

    /// The file name of the model called `name`: `<name>.model.bin`.
    pub fn file_name(name: &str) -> String {
        format!("{name}.{MODEL_EXTENSION}")
    }

    /// Why the parts of the model disagree, if they do: config and model kinds, feature
    /// names and the model's inputs, importances, finite scalars. Trees are valid by
    /// construction.
    fn inconsistency(&self) -> Option<String> {
        let n = self.model.n_features();
        if self.config.kind() != self.model.kind() {
            return Some(format!(
                "the config is a {} but the model a {}",
                self.config.kind(),
                self.model.kind()
            ));
        }
        if self.feature_names.len() != n {
            return Some(format!(
                "{} feature names for a model of {n} inputs",
                self.feature_names.len()
            ));
        }
        if n == 0 || n > MAX_TREE_FEATURES {
            return Some(format!("a model of {n} inputs"));
        }
        if let Some(i) = trees_of(&self.model).iter().position(|t| t.n_features() != n) {
            return Some(format!("tree {i} has inputs different from the model's {n}"));
        }
        if let Some(imp) = self.model.feature_importances() {
            if imp.len() != n || imp.iter().any(|v| !v.is_finite()) {
                return Some(format!(
                    "{} feature importances (all must be finite) for {n} inputs",
                    imp.len()
                ));
            }
        }
        match &self.model {
            Model::LogisticRegression(m)
                if m.coefficients.iter().any(|v| !v.is_finite()) || !m.intercept.is_finite() =>
            {
                return Some("a logistic coefficient or the intercept is not finite".into());
            }
            Model::RandomForest(m) if m.trees.is_empty() => {
                return Some("a random forest without trees".into());
            }
            Model::GradientBoosting(m) if !m.init_score.is_finite() => {
                return Some(format!("the initial score {} is not finite", m.init_score));
            }
            _ => {}
        }
        if let Some(defect) = self.calibrator.as_ref().and_then(Calibrator::defect) {
            return Some(format!("calibration: {defect}"));
        }
        if let Some(point) = &self.operating_point {
            if let Some(defect) = point.rule.defect() {
                return Some(format!("operating point: {defect}"));
            }
            if !(0.0..=1.0).contains(&point.threshold) {
                return Some(format!(
                    "the decision threshold {} is not a probability",
                    point.threshold
                ));
            }
        }
        None
    }

    /// Write the model as a format-2 binary file (see the module docs), buffered and
    /// atomically. A model whose parts disagree (e.g. feature names and inputs) is refused.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        if let Some(message) = self.inconsistency() {
            return Err(invalid(
                path,
                format!("refusing to save an inconsistent model: {message}"),
            ));
        }
        let trees = trees_of(&self.model);
        let fitted = match &self.model {
            Model::LogisticRegression(m) => Fitted::LogisticRegression(m.clone()),
            Model::DecisionTree(_) => Fitted::DecisionTree {},
            Model::RandomForest(m) => Fitted::RandomForest {
                oob_score: m.oob_score,
                feature_importances: m.feature_importances.clone(),
            },
            Model::GradientBoosting(m) => Fitted::GradientBoosting {
                init_score: m.init_score,
                feature_importances: m.feature_importances.clone(),
                validation_loss: m.validation_loss,
            },
        };
        let header = Header {
            name: self.name.clone(),
            config: self.config.clone(),
            feature_names: self.feature_names.clone(),
            n_features: self.model.n_features(),
            model: fitted,
            trees: TreeTotals::of(trees),
            calibrator: self.calibrator.clone(),
            operating_point: self.operating_point,
        };
        let json = serde_json::to_vec(&header).map_err(|e| ArtifactError::Json {
            path: path.into(),
            source: e,
        })?;
        let header_len = u32::try_from(json.len())
            .ok()
            .filter(|&l| l <= MAX_HEADER_BYTES)
            .ok_or_else(|| {
                invalid(
                    path,
                    format!("the header would be {} bytes, too large", json.len()),
                )
            })?;
        let io = |e: std::io::Error| ModelError::from(ArtifactError::io(path, e));
        atomic::write_with(path, |out| {
            let mut w = HashingWriter {
                inner: out,
                hasher: blake3::Hasher::new(),
            };
            w.put(&MODEL_MAGIC).map_err(io)?;
            w.put(&MODEL_FORMAT.to_le_bytes()).map_err(io)?;
            w.put(&header_len.to_le_bytes()).map_err(io)?;
            w.put(&json).map_err(io)?;
            let header_hash = w.hasher.finalize();
            w.put(header_hash.as_bytes()).map_err(io)?;
            let mut buf = Vec::with_capacity(NODES_PER_READ * NODE_BYTES);
            for tree in trees {
                w.put(&(tree.n_nodes() as u32).to_le_bytes()).map_err(io)?;
                for nodes in tree.packed().chunks(NODES_PER_READ) {
                    buf.clear();
                    for n in nodes {
                        buf.extend_from_slice(&n.value.to_le_bytes());
                        buf.extend_from_slice(&n.meta.to_le_bytes());
                        buf.extend_from_slice(&n.first_child.to_le_bytes());
                    }
                    w.put(&buf).map_err(io)?;
                }
                let cover = tree.cover().unwrap_or(&[]);
                w.put(&(cover.len() as u32).to_le_bytes()).map_err(io)?;
                buf.clear();
                buf.extend(cover.iter().flat_map(|c| c.to_le_bytes()));
                w.put(&buf).map_err(io)?;
            }
            let hash = w.hasher.finalize();
            w.inner.write_all(hash.as_bytes()).map_err(io)
        })
    }

    /// Read a model file, checking everything (see the module docs). Format-2 files are
    /// streamed; format-1 files (gzip or plain JSON) are decoded as before and checked the
    /// same way.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let (mut reader, first) = open(path)?;
        if is_format_1(&first) {
            return load_format_1(path, reader);
        }
        let (version, header) = read_header(path, &mut reader, &first)?;
        let Header {
            name,
            config,
            feature_names,
            n_features,
            model: fitted,
            trees: totals,
            calibrator,
            operating_point,
        } = header;
        // Every tree takes at least 4 + 16 bytes, so the count is bounded by the file.
        let mut trees = Vec::with_capacity(totals.count.min(reader.remaining / 20) as usize);
        let mut buf = vec![0u8; NODES_PER_READ * NODE_BYTES];
        for t in 0..totals.count {
            let n = reader.u32(&format!("the node count of tree {t}"))? as usize;
            let bytes = n as u64 * NODE_BYTES as u64;
            // The rest of the file must hold these nodes and the final hash.
            if n == 0 || bytes + HASH_BYTES as u64 > reader.remaining {
                return Err(invalid(
                    path,
                    format!(
                        "tree {t} declares {n} nodes, but {} bytes remain in the file",
                        reader.remaining
                    ),
                ));
            }
            let mut nodes = Vec::with_capacity(n);
            while nodes.len() < n {
                let k = (n - nodes.len()).min(NODES_PER_READ);
                let chunk = &mut buf[..k * NODE_BYTES];
                reader.take(chunk, &format!("the nodes of tree {t}"))?;
                nodes.extend(chunk.chunks_exact(NODE_BYTES).map(decode_node));
            }
            if let Some(message) = check_packed(n_features, &nodes) {
                return Err(invalid(path, format!("tree {t}: {message}")));
            }
            let cover = match version {
                2 => Vec::new(),
                _ => read_cover(path, &mut reader, t, n)?,
            };
            if let Some(message) = check_cover(&nodes, &cover) {
                return Err(invalid(path, format!("tree {t}: {message}")));
            }
            trees.push(Tree::from_packed_unchecked(n_features, nodes, cover));
        }
        reader.check_hash("the file hash")?;
        let mut extra = [0u8; 1];
        if reader
            .inner
            .read(&mut extra)
            .map_err(|e| ArtifactError::io(path, e))?
            != 0
        {
            return Err(invalid(path, "unexpected bytes after the file hash"));
        }
        let found = TreeTotals::of(&trees);
        if found != totals {
            return Err(invalid(
                path,
                format!("the header's tree totals {totals:?} do not match the trees {found:?}"),
            ));
        }
        let model = match fitted {
            Fitted::LogisticRegression(m) => Model::LogisticRegression(m),
            Fitted::DecisionTree {} => match <[Tree; 1]>::try_from(trees) {
                Ok([tree]) => Model::DecisionTree(tree),
                Err(trees) => {
                    return Err(invalid(
                        path,
                        format!("a decision tree with {} trees", trees.len()),
                    ));
                }
            },
            Fitted::RandomForest {
                oob_score,
                feature_importances,
            } => Model::RandomForest(RandomForest {
                n_features,
                trees,
                oob_score,
                feature_importances,
            }),
            Fitted::GradientBoosting {
                init_score,
                feature_importances,
                validation_loss,
            } => Model::GradientBoosting(GradientBoosting {
                n_features,
                init_score,
                trees,
                feature_importances,
                validation_loss,
            }),
        };
        let saved = SavedModel {
            format_version: version,
            name,
            config,
            feature_names,
            model,
            calibrator,
            operating_point,
        };
        if let Some(message) = saved.inconsistency() {
            return Err(invalid(path, message));
        }
        Ok(saved)
    }

    /// What a model file holds (kind, name, inputs, config, importances, tree totals,
    /// size), from its header alone: the header is checked against its hash and the file
    /// length against the header's totals, but the node arrays are neither read nor
    /// checked (use [`SavedModel::load`] for that). A format-1 file is loaded whole.
    pub fn read_summary(path: &Path) -> Result<ModelSummary, ModelError> {
        let (mut reader, first) = open(path)?;
        let bytes = reader.remaining + first.len() as u64;
        if is_format_1(&first) {
            return Ok(load_format_1(path, reader)?.summary(bytes));
        }
        let (version, header) = read_header(path, &mut reader, &first)?;
        let feature_importances = match &header.model {
            Fitted::RandomForest {
                feature_importances, ..
            }
            | Fitted::GradientBoosting {
                feature_importances, ..
            } => Some(feature_importances.clone()),
            Fitted::LogisticRegression(_) | Fitted::DecisionTree {} => None,
        };
        let oob_roc_auc = match &header.model {
            Fitted::RandomForest { oob_score, .. } => *oob_score,
            _ => None,
        };
        Ok(ModelSummary {
            format_version: version,
            name: header.name,
            kind: header.config.kind(),
            config: header.config,
            feature_names: header.feature_names,
            feature_importances,
            trees: header.trees.count,
            nodes: header.trees.nodes,
            leaves: header.trees.leaves,
            max_depth: header.trees.max_depth,
            covered: header.trees.covered,
            bytes,
            calibration: header.calibrator.as_ref().map(Calibrator::method),
            operating_point: header.operating_point,
            oob_roc_auc,
        })
    }

    /// The summary of this model, for a file of `bytes` bytes.
    pub fn summary(&self, bytes: u64) -> ModelSummary {
        let totals = TreeTotals::of(trees_of(&self.model));
        ModelSummary {
            format_version: self.format_version,
            name: self.name.clone(),
            kind: self.config.kind(),
            config: self.config.clone(),
            feature_names: self.feature_names.clone(),
            feature_importances: self.model.feature_importances(),
            trees: totals.count,
            nodes: totals.nodes,
            leaves: totals.leaves,
            max_depth: totals.max_depth,
            covered: totals.covered,
            bytes,
            calibration: self.calibrator.as_ref().map(Calibrator::method),
            operating_point: self.operating_point,
            oob_roc_auc: match &self.model {
                Model::RandomForest(f) => f.oob_score,
                _ => None,
            },
        }
    }

    /// Every input of this model (loaded from `path`) must be among `available`: the model
    /// reads its inputs by name.
    pub fn require_inputs(&self, path: &Path, available: &[String]) -> Result<(), ModelError> {
        if self.feature_names.iter().all(|n| available.contains(n)) {
            Ok(())
        } else {
            Err(ModelError::MissingInputs {
                model: path.into(),
                expected: self.feature_names.clone(),
                found: available.to_vec(),
            })
        }
    }

    /// Probability of the replayed class, calibrated when the model has a calibration
    /// map, after checking the number of inputs.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        Ok(self.predict_output(x)?.mapv(|o| self.probability_of_output(o)))
    }

    /// The probability of the model itself, without its calibration map.
    pub fn predict_uncalibrated(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        self.check_columns(x)?;
        self.model.predict_proba(x)
    }

    /// The model's output ([`Model::predict_output`]), before any calibration.
    pub fn predict_output(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, ModelError> {
        self.check_columns(x)?;
        self.model.predict_output(x)
    }

    /// The probability of a model output, through the calibration map when there is one.
    pub fn probability_of_output(&self, output: f64) -> f64 {
        crate::refine::probability(self.model.output_space(), self.calibrator.as_ref(), output)
    }

    /// `x` must have one column per input.
    fn check_columns(&self, x: ArrayView2<'_, f64>) -> Result<(), ModelError> {
        if x.ncols() != self.feature_names.len() || x.ncols() != self.model.n_features() {
            return Err(ModelError::Features {
                expected: self.feature_names.len(),
                found: x.ncols(),
            });
        }
        Ok(())
    }
}

/// Decode one stored node (16 little-endian bytes).
fn decode_node(b: &[u8]) -> PackedNode {
    let mut value = [0u8; 8];
    let mut meta = [0u8; 4];
    let mut child = [0u8; 4];
    value.copy_from_slice(&b[..8]);
    meta.copy_from_slice(&b[8..12]);
    child.copy_from_slice(&b[12..16]);
    PackedNode {
        value: f64::from_le_bytes(value),
        meta: u32::from_le_bytes(meta),
        first_child: u32::from_le_bytes(child),
    }
}

/// Open `path` for hashed reading and read its first (up to) 16 bytes, unhashed.
fn open(path: &Path) -> Result<(HashingReader<'_, BufReader<File>>, Vec<u8>), ModelError> {
    let file = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    let len = file.metadata().map_err(|e| ArtifactError::io(path, e))?.len();
    let mut reader = HashingReader {
        inner: BufReader::with_capacity(1 << 16, file),
        hasher: blake3::Hasher::new(),
        remaining: len,
        path,
    };
    let mut first = vec![0u8; (PREFIX_BYTES as u64).min(len) as usize];
    reader.take_unhashed(&mut first, "the file's first bytes")?;
    Ok((reader, first))
}

/// Whether the file starts like a format-1 file: gzip, or JSON.
fn is_format_1(first: &[u8]) -> bool {
    first.starts_with(&[0x1f, 0x8b]) || first.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The covers of tree `t` of `n` nodes (format 3): a count, 0 or `n`, then the values.
fn read_cover<R: Read>(
    path: &Path,
    reader: &mut HashingReader<'_, R>,
    t: u64,
    n: usize,
) -> Result<Vec<f32>, ModelError> {
    let c = reader.u32(&format!("the cover count of tree {t}"))? as usize;
    if c != 0 && c != n {
        return Err(invalid(
            path,
            format!("tree {t} has {c} cover values for {n} nodes"),
        ));
    }
    if c as u64 * 4 + HASH_BYTES as u64 > reader.remaining {
        return Err(invalid(
            path,
            format!(
                "tree {t} declares {c} cover values, but {} bytes remain in the file",
                reader.remaining
            ),
        ));
    }
    let mut bytes = vec![0u8; c * 4];
    reader.take(&mut bytes, &format!("the covers of tree {t}"))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Check the prefix (`first`: magic, version, header length), read and check the header
/// and its hash, and check the file length against the header's totals; the format
/// version and the header.
fn read_header<R: Read>(
    path: &Path,
    reader: &mut HashingReader<'_, R>,
    first: &[u8],
) -> Result<(u32, Header), ModelError> {
    if first.len() < PREFIX_BYTES || first[..8] != MODEL_MAGIC {
        return Err(invalid(
            path,
            "not a replay model file (it does not start with the model file magic bytes)",
        ));
    }
    reader.hasher.update(first);
    let word = |at: usize| u32::from_le_bytes([first[at], first[at + 1], first[at + 2], first[at + 3]]);
    let version = word(8);
    if !(OLDEST_BINARY_FORMAT..=MODEL_FORMAT).contains(&version) {
        return Err(invalid(
            path,
            format!(
                "model format version {version} is not supported (this replay reads versions 1 to {MODEL_FORMAT}); re-train the model"
            ),
        ));
    }
    let header_len = word(12);
    if header_len > MAX_HEADER_BYTES || u64::from(header_len) + 2 * HASH_BYTES as u64 > reader.remaining {
        return Err(invalid(
            path,
            format!(
                "the header length {header_len} does not fit in the {} bytes that follow it",
                reader.remaining
            ),
        ));
    }
    let mut json = vec![0u8; header_len as usize];
    reader.take(&mut json, "the header")?;
    reader.check_hash("the header hash")?;
    let header: Header = serde_json::from_slice(&json).map_err(|e| invalid(path, format!("header: {e}")))?;
    if header.n_features == 0 || header.n_features > MAX_TREE_FEATURES {
        return Err(invalid(
            path,
            format!("the header declares {} inputs", header.n_features),
        ));
    }
    if header.feature_names.len() != header.n_features {
        return Err(invalid(
            path,
            format!(
                "{} feature names for {} inputs",
                header.feature_names.len(),
                header.n_features
            ),
        ));
    }
    if header.config.kind() != header.model.kind() {
        return Err(invalid(
            path,
            format!(
                "the config is a {} but the model a {}",
                header.config.kind(),
                header.model.kind()
            ),
        ));
    }
    // The rest of the file: a count and nodes per tree (and in format 3 a cover count and
    // covers), then the file hash.
    let t = header.trees;
    let covers = match version {
        2 => 0,
        _ => u128::from(t.count) * 4 + u128::from(t.covered) * 4,
    };
    let expected =
        u128::from(t.count) * 4 + u128::from(t.nodes) * NODE_BYTES as u128 + covers + HASH_BYTES as u128;
    if expected != u128::from(reader.remaining) {
        return Err(invalid(
            path,
            format!(
                "the header declares {} trees of {} nodes in all, which need {expected} more bytes, but {} remain (truncated or damaged file)",
                t.count, t.nodes, reader.remaining
            ),
        ));
    }
    if t.leaves > t.nodes || t.count > t.nodes || t.max_depth >= t.nodes.max(1) || t.covered > t.nodes {
        return Err(invalid(path, format!("inconsistent tree totals {t:?}")));
    }
    if version == 2 && t.covered != 0 {
        return Err(invalid(path, "a format-2 header declares node covers"));
    }
    Ok((version, header))
}

impl Fitted {
    fn kind(&self) -> &'static str {
        match self {
            Fitted::LogisticRegression(_) => "logistic_regression",
            Fitted::DecisionTree {} => "decision_tree",
            Fitted::RandomForest { .. } => "random_forest",
            Fitted::GradientBoosting { .. } => "gradient_boosting",
        }
    }
}

/// Decode a format-1 file (gzip-compressed or plain JSON) whose first bytes were read.
fn load_format_1<R: Read>(path: &Path, reader: HashingReader<'_, R>) -> Result<SavedModel, ModelError> {
    // The first bytes were consumed; re-open for a plain sequential decode.
    drop(reader);
    let file = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    let mut start = [0u8; 2];
    let mut probe = BufReader::new(file);
    let gz = probe.read_exact(&mut start).is_ok() && start == [0x1f, 0x8b];
    let file = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    let input: Box<dyn Read> = if gz {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(BufReader::new(
            file,
        ))))
    } else {
        Box::new(BufReader::new(file))
    };
    let saved: SavedModel = serde_json::from_reader(input).map_err(|source| {
        if source.is_io() {
            invalid(path, format!("not a readable gzip file: {source}"))
        } else {
            ArtifactError::Json {
                path: path.into(),
                source,
            }
            .into()
        }
    })?;
    if saved.format_version != 1 {
        return Err(invalid(
            path,
            format!(
                "a JSON model file of format version {}; only format 1 was written as JSON",
                saved.format_version
            ),
        ));
    }
    if let Some(message) = saved.inconsistency() {
        return Err(invalid(path, message));
    }
    Ok(saved)
}
