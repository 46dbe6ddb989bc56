//! Model files (format 2) and tree prediction: round trips to bit-identical predictions,
//! header-only summaries, damaged and hostile files (truncation at every byte, seeded
//! byte flips, hand-crafted structures), format-1 files, and prediction that matches a
//! plain row-by-row walk whatever the number of threads.

use std::io::Write;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2, ShapeBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use replay_models::logistic::LogisticParams;
use replay_models::tree::{DecisionTreeParams, Node, Tree};
use replay_models::{
    fit, BoostingParams, ForestParams, Model, ModelConfig, ModelError, SavedModel, MODEL_FORMAT, MODEL_MAGIC,
};

/// `n` rows of 5 inputs (some missing) and a noisy nonlinear label.
fn synthetic(n: usize, seed: u64) -> (Array2<f64>, Array1<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::from_shape_fn((n, 5), |_| rng.random::<f64>());
    let y: Array1<bool> = x
        .rows()
        .into_iter()
        .map(|r| ((r[0] * 6.0).sin() + r[1] * r[2] > 0.5) ^ (rng.random::<f64>() < 0.1))
        .collect();
    for i in (0..n).step_by(13) {
        x[(i, 4)] = f64::NAN;
    }
    (x, y)
}

fn names() -> Vec<String> {
    (0..5).map(|i| format!("x{i}")).collect()
}

fn configs() -> Vec<ModelConfig> {
    vec![
        ModelConfig::LogisticRegression(LogisticParams::default()),
        ModelConfig::DecisionTree(DecisionTreeParams::default()),
        ModelConfig::RandomForest(ForestParams {
            n_trees: 7,
            oob_score: true,
            seed: 3,
            ..Default::default()
        }),
        ModelConfig::GradientBoosting(BoostingParams {
            n_iter: 15,
            ..Default::default()
        }),
    ]
}

fn saved(config: &ModelConfig, rows: usize) -> SavedModel {
    let (mut x, y) = synthetic(rows, 1);
    if let ModelConfig::LogisticRegression(_) = config {
        // Logistic regression needs imputed inputs.
        x.mapv_inplace(|v| if v.is_nan() { 0.5 } else { v });
    }
    let model = fit(config, x.view(), y.view()).unwrap();
    SavedModel::new(config.kind(), config.clone(), names(), model)
}

/// A small forest, whose file is small enough to damage at every byte.
fn tiny_forest() -> SavedModel {
    saved(
        &ModelConfig::RandomForest(ForestParams {
            n_trees: 3,
            max_depth: Some(3),
            seed: 5,
            ..Default::default()
        }),
        300,
    )
}

fn bits(p: &Array1<f64>) -> Vec<u64> {
    p.iter().map(|v| v.to_bits()).collect()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// The leaf value of `row` in `tree`, walking the public node view one row at a time:
/// the traversal semantics of the original enum-node trees.
fn reference_value(tree: &Tree, row: &[f64]) -> f64 {
    let mut i = 0;
    loop {
        match tree.node(i) {
            Node::Leaf { value } => return value,
            Node::Split {
                feature,
                threshold,
                missing_left,
                left,
                right,
            } => {
                let v = row[feature];
                let go_left = if v.is_nan() { missing_left } else { v <= threshold };
                i = if go_left { left } else { right };
            }
        }
    }
}

/// Predictions computed the plain way: one row at a time, trees summed in order.
fn reference_predictions(model: &Model, x: ArrayView2<'_, f64>) -> Vec<u64> {
    let sigmoid = |z: f64| {
        let e = (-z.abs()).exp();
        let r = 1.0 / (1.0 + e);
        if z >= 0.0 {
            r
        } else {
            e * r
        }
    };
    x.rows()
        .into_iter()
        .map(|row| {
            let row = row.to_vec();
            let p = match model {
                Model::DecisionTree(t) => reference_value(t, &row),
                Model::RandomForest(m) => {
                    let mut s = 0.0;
                    for t in &m.trees {
                        s += reference_value(t, &row);
                    }
                    s / m.trees.len() as f64
                }
                Model::GradientBoosting(m) => {
                    let mut s = m.init_score;
                    for t in &m.trees {
                        s += reference_value(t, &row);
                    }
                    sigmoid(s)
                }
                Model::LogisticRegression(_) => unreachable!("trees only"),
            };
            p.to_bits()
        })
        .collect()
}

#[test]
fn every_kind_round_trips_to_bit_identical_predictions_and_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let (xt, _) = synthetic(1037, 2);
    for config in configs() {
        let model = saved(&config, 1500);
        let path = dir.path().join(SavedModel::file_name(config.kind()));
        assert!(path.to_string_lossy().ends_with(".model.bin"));
        model.save(&path).unwrap();
        let mut start = [0u8; 8];
        std::fs::File::open(&path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut start))
            .unwrap();
        assert_eq!(start, MODEL_MAGIC);
        let loaded = SavedModel::load(&path).unwrap();
        assert_eq!(loaded, model, "{}", config.kind());
        assert_eq!(loaded.format_version, MODEL_FORMAT);
        let (a, b) = (
            model.predict_proba(xt.view()).unwrap(),
            loaded.predict_proba(xt.view()).unwrap(),
        );
        assert_eq!(bits(&a), bits(&b), "{}", config.kind());
        let summary = SavedModel::read_summary(&path).unwrap();
        let bytes = std::fs::metadata(&path).unwrap().len();
        assert_eq!(summary, model.summary(bytes));
        assert_eq!(summary.kind, config.kind());
        assert_eq!(summary.feature_names, names());
        match &model.model {
            Model::LogisticRegression(_) => assert_eq!((summary.trees, summary.nodes), (0, 0)),
            Model::DecisionTree(t) => {
                assert_eq!(summary.trees, 1);
                assert_eq!(summary.nodes, t.n_nodes() as u64);
                assert_eq!(summary.leaves, t.n_leaves() as u64);
                assert_eq!(summary.max_depth, t.depth() as u64);
            }
            Model::RandomForest(m) => {
                assert_eq!(summary.trees, 7);
                assert_eq!(summary.feature_importances.as_ref(), Some(&m.feature_importances));
                // A leaf per split plus one, in every tree.
                assert_eq!(summary.nodes, 2 * summary.leaves - summary.trees);
            }
            Model::GradientBoosting(m) => assert_eq!(summary.trees, m.trees.len() as u64),
        }
    }
}

#[test]
fn tree_prediction_matches_a_plain_walk_with_one_and_two_threads() {
    let (xt, _) = synthetic(2 * 256 + 77, 4);
    // The same rows in column-major order (not contiguous rows).
    let mut xf = Array2::<f64>::zeros(xt.raw_dim().f());
    xf.assign(&xt);
    for config in configs().into_iter().skip(1) {
        let model = saved(&config, 2000).model;
        let reference = reference_predictions(&model, xt.view());
        let one = in_pool(1, || model.predict_proba(xt.view()).unwrap());
        let two = in_pool(2, || model.predict_proba(xt.view()).unwrap());
        let column_major = in_pool(2, || model.predict_proba(xf.view()).unwrap());
        assert_eq!(bits(&one), reference, "{}", config.kind());
        assert_eq!(bits(&two), reference, "{}", config.kind());
        assert_eq!(bits(&column_major), reference, "{}", config.kind());
    }
}

/// The error message of loading `path`, which must fail and name the file.
fn load_error(path: &Path) -> String {
    let err = SavedModel::load(path).expect_err("a damaged file must not load");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "the error names the file: {message}"
    );
    message
}

#[test]
fn truncation_at_every_byte_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.model.bin");
    tiny_forest().save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() < 20_000, "{} bytes", bytes.len());
    let cut = dir.path().join("cut.model.bin");
    for len in 0..bytes.len() {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        load_error(&cut);
        // A header-only read notices the missing bytes too (the length is checked).
        assert!(SavedModel::read_summary(&cut).is_err(), "summary of {len} bytes");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    std::fs::write(&cut, &longer).unwrap();
    assert!(load_error(&cut).contains("bytes"));
}

#[test]
fn seeded_single_byte_flips_are_all_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.model.bin");
    tiny_forest().save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let damaged = dir.path().join("flipped.model.bin");
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    for _ in 0..3000 {
        let mut b = bytes.clone();
        let at = rng.random_range(0..b.len());
        let flip = rng.random_range(1..=255u8);
        b[at] ^= flip;
        std::fs::write(&damaged, &b).unwrap();
        load_error(&damaged);
    }
}

/// A format-3 file taken apart: header JSON, each tree's nodes (16 bytes each) and node
/// covers, so a test can change them and seal the file again with valid hashes.
struct Parts {
    header: serde_json::Value,
    trees: Vec<Vec<[u8; 16]>>,
    covers: Vec<Vec<f32>>,
}

fn take_apart(bytes: &[u8]) -> Parts {
    let h = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[16..16 + h]).unwrap();
    let mut at = 16 + h + 32;
    let count = header["trees"]["count"].as_u64().unwrap();
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let (mut trees, mut covers) = (Vec::new(), Vec::new());
    for _ in 0..count {
        let n = word(at);
        at += 4;
        trees.push(
            bytes[at..at + 16 * n]
                .chunks_exact(16)
                .map(|c| c.try_into().unwrap())
                .collect(),
        );
        at += 16 * n;
        let c = word(at);
        at += 4;
        covers.push(
            bytes[at..at + 4 * c]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        );
        at += 4 * c;
    }
    assert_eq!(at + 32, bytes.len());
    Parts {
        header,
        trees,
        covers,
    }
}

/// Assemble a file of format `version` with correct hashes: format 3 stores `covers`, 2
/// does not; `counts` overrides the stored node counts.
fn seal_as(
    version: u32,
    header: &[u8],
    trees: &[Vec<[u8; 16]>],
    covers: &[Vec<f32>],
    counts: Option<&[u32]>,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MODEL_MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(header);
    let h = blake3::hash(&out);
    out.extend_from_slice(h.as_bytes());
    for (i, t) in trees.iter().enumerate() {
        let n = counts.map_or(t.len() as u32, |c| c[i]);
        out.extend_from_slice(&n.to_le_bytes());
        for node in t {
            out.extend_from_slice(node);
        }
        if version >= 3 {
            let cover = covers.get(i).map_or(&[][..], |c| &c[..]);
            out.extend_from_slice(&(cover.len() as u32).to_le_bytes());
            cover.iter().for_each(|c| out.extend_from_slice(&c.to_le_bytes()));
        }
    }
    let h = blake3::hash(&out);
    out.extend_from_slice(h.as_bytes());
    out
}

fn seal(header: &[u8], trees: &[Vec<[u8; 16]>], covers: &[Vec<f32>], counts: Option<&[u32]>) -> Vec<u8> {
    seal_as(MODEL_FORMAT, header, trees, covers, counts)
}

impl Parts {
    fn seal(&self) -> Vec<u8> {
        seal(
            &serde_json::to_vec(&self.header).unwrap(),
            &self.trees,
            &self.covers,
            None,
        )
    }
}

fn node(value: f64, meta: u32, child: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&value.to_le_bytes());
    b[8..12].copy_from_slice(&meta.to_le_bytes());
    b[12..].copy_from_slice(&child.to_le_bytes());
    b
}

#[test]
fn resealed_random_damage_never_panics_or_hangs() {
    // Damage that keeps the hashes valid reaches the structural checks: whatever loads
    // must predict without panicking.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.model.bin");
    tiny_forest().save(&path).unwrap();
    let parts = take_apart(&std::fs::read(&path).unwrap());
    let (x, _) = synthetic(50, 9);
    let damaged = dir.path().join("resealed.model.bin");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut loaded, mut refused) = (0, 0);
    for _ in 0..3000 {
        let mut p = Parts {
            header: parts.header.clone(),
            trees: parts.trees.clone(),
            covers: parts.covers.clone(),
        };
        let t = rng.random_range(0..p.trees.len());
        let n = rng.random_range(0..p.trees[t].len());
        let byte = rng.random_range(0..20);
        match byte {
            0..16 => p.trees[t][n][byte] ^= 1 << rng.random_range(0..8),
            _ => {
                let bits = p.covers[t][n].to_bits() ^ (1 << rng.random_range(0..32));
                p.covers[t][n] = f32::from_bits(bits);
            }
        }
        std::fs::write(&damaged, p.seal()).unwrap();
        match SavedModel::load(&damaged) {
            Ok(m) => {
                loaded += 1;
                let _ = m.predict_proba(x.view()).unwrap();
            }
            Err(e) => {
                refused += 1;
                assert!(e.to_string().contains("resealed.model.bin"), "{e}");
            }
        }
    }
    // Bits of thresholds and leaf values can change harmlessly; structure bits cannot.
    assert!(loaded > 0 && refused > 0, "{loaded} loaded, {refused} refused");
}

#[test]
fn hostile_files_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.model.bin");
    // A stump-sized decision tree: root split on x0, two leaves.
    let tree = Tree::from_nodes(
        5,
        vec![
            Node::Split {
                feature: 0,
                threshold: 0.5,
                missing_left: true,
                left: 1,
                right: 2,
            },
            Node::Leaf { value: 0.25 },
            Node::Leaf { value: 0.75 },
        ],
    )
    .unwrap();
    let good = SavedModel::new(
        "stump",
        ModelConfig::DecisionTree(DecisionTreeParams::default()),
        names(),
        Model::DecisionTree(tree),
    );
    good.save(&path).unwrap();
    let parts = take_apart(&std::fs::read(&path).unwrap());
    assert!(SavedModel::load(&path).is_ok());
    let bad = dir.path().join("hostile.model.bin");
    let check = |bytes: Vec<u8>, expect: &str| {
        std::fs::write(&bad, bytes).unwrap();
        let message = load_error(&bad);
        assert!(message.contains(expect), "expected '{expect}' in: {message}");
    };
    let with_nodes = |nodes: Vec<[u8; 16]>| Parts {
        header: parts.header.clone(),
        trees: vec![nodes],
        covers: vec![vec![]],
    };
    let leaf = |v: f64| node(v, 0, 0);
    // Children out of range.
    check(
        with_nodes(vec![node(0.5, 0, 2), leaf(0.1), leaf(0.2)]).seal(),
        "beyond",
    );
    check(
        with_nodes(vec![node(0.5, 0, u32::MAX), leaf(0.1), leaf(0.2)]).seal(),
        "beyond",
    );
    // A split pointing back at itself or before it (a cycle through the root).
    let cyc = vec![node(0.5, 0, 1), node(0.5, 0, 1), leaf(0.2)];
    check(with_nodes(cyc).seal(), "not after it");
    let back = vec![node(0.5, 0, 1), leaf(0.1), node(0.5, 0, 1)];
    check(with_nodes(back).seal(), "not after it");
    // A "leaf" with split flags, i.e. a split whose child is the root.
    check(
        with_nodes(vec![node(0.5, 3, 0), leaf(0.1), leaf(0.2)]).seal(),
        "flags",
    );
    // Feature out of range, NaN threshold, non-finite leaves.
    check(
        with_nodes(vec![node(0.5, 5, 1), leaf(0.1), leaf(0.2)]).seal(),
        "tests input 5",
    );
    check(
        with_nodes(vec![node(f64::NAN, 0, 1), leaf(0.1), leaf(0.2)]).seal(),
        "NaN threshold",
    );
    check(
        with_nodes(vec![node(0.5, 0, 1), leaf(f64::INFINITY), leaf(0.2)]).seal(),
        "non-finite",
    );
    check(
        with_nodes(vec![node(0.5, 0, 1), leaf(f64::NAN), leaf(0.2)]).seal(),
        "non-finite",
    );
    // A node that is nobody's child, and the header's totals disagreeing with the trees.
    let orphan = vec![node(0.5, 0, 2), leaf(0.1), leaf(0.2), leaf(0.3)];
    let mut p = with_nodes(orphan);
    p.header["trees"]["nodes"] = 4.into();
    check(p.seal(), "not the child of any node");
    let mut p = with_nodes(vec![leaf(0.1)]);
    p.header["trees"]["nodes"] = 1.into();
    check(p.seal(), "totals");
    // An empty tree (after a good one).
    let mut p = with_nodes(parts.trees[0].clone());
    p.trees.push(vec![]);
    p.header["trees"]["count"] = 2.into();
    check(p.seal(), "0 nodes");
    // Feature names and inputs disagree; config and model kinds disagree.
    let mut p = with_nodes(parts.trees[0].clone());
    p.header["feature_names"] = serde_json::json!(["a", "b"]);
    check(p.seal(), "2 feature names for 5 inputs");
    let mut p = with_nodes(parts.trees[0].clone());
    p.header["n_features"] = 2.into();
    check(p.seal(), "feature names");
    let mut p = with_nodes(parts.trees[0].clone());
    p.header["model"]["kind"] = "random_forest".into();
    check(p.seal(), "header");
    // Huge lengths: a node count far beyond the file, huge tree totals, a huge header.
    let header = serde_json::to_vec(&parts.header).unwrap();
    check(
        seal(&header, &parts.trees, &parts.covers, Some(&[u32::MAX])),
        "bytes",
    );
    let mut p = with_nodes(parts.trees[0].clone());
    p.header["trees"]["count"] = u64::MAX.into();
    p.header["trees"]["nodes"] = u64::MAX.into();
    check(p.seal(), "truncated or damaged");
    let mut b = parts.seal();
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    check(b, "header length");
    // Wrong magic; other format versions.
    let mut b = parts.seal();
    b[0] = b'X';
    check(b, "not a replay model file");
    for version in [0u32, 1, 4, u32::MAX] {
        let mut b = parts.seal();
        b[8..12].copy_from_slice(&version.to_le_bytes());
        check(b, "format version");
    }
    // Covers: negative, NaN, none at a split, or not one per node.
    let with_cover = |cover: Vec<f32>| {
        let mut p = with_nodes(parts.trees[0].clone());
        p.header["trees"]["covered"] = cover.len().into();
        p.covers = vec![cover];
        p.seal()
    };
    assert!(SavedModel::load(&{
        std::fs::write(&bad, with_cover(vec![3.0, 1.0, 2.0])).unwrap();
        bad.clone()
    })
    .is_ok());
    check(with_cover(vec![3.0, -1.0, 2.0]), "node 1 has the cover -1");
    check(with_cover(vec![3.0, f32::NAN, 2.0]), "node 1 has the cover NaN");
    check(with_cover(vec![0.0, 0.0, 0.0]), "node 0 has the cover 0");
    check(with_cover(vec![3.0, 1.0]), "2 cover values for 3 nodes");
    let mut p = with_nodes(parts.trees[0].clone());
    p.header["trees"]["covered"] = 3.into();
    check(p.seal(), "truncated or damaged");
    // The empty file and a file of zeros.
    check(Vec::new(), "not a replay model file");
    check(vec![0u8; 4096], "not a replay model file");
    // A missing file is an I/O error naming it.
    let missing = dir.path().join("missing.model.bin");
    assert!(matches!(SavedModel::load(&missing), Err(ModelError::Artifact(_))));
}

#[test]
fn from_nodes_checks_the_structure() {
    let leaf = |value: f64| Node::Leaf { value };
    let split = |feature: usize, left: usize, right: usize| Node::Split {
        feature,
        threshold: 0.0,
        missing_left: false,
        left,
        right,
    };
    assert!(Tree::from_nodes(2, vec![leaf(0.5)]).is_ok());
    // Pre-order input (children not adjacent) is re-laid out with the same predictions.
    let pre = vec![split(0, 1, 4), split(1, 2, 3), leaf(0.1), leaf(0.2), leaf(0.3)];
    let t = Tree::from_nodes(2, pre).unwrap();
    assert_eq!((t.n_nodes(), t.n_leaves(), t.depth()), (5, 3, 2));
    assert_eq!(t.value_of_slice(&[-1.0, -1.0]), 0.1);
    assert_eq!(t.value_of_slice(&[-1.0, 1.0]), 0.2);
    assert_eq!(t.value_of_slice(&[1.0, f64::NAN]), 0.3);
    let roots: Vec<Node> = t.nodes().collect();
    assert_eq!(roots.len(), 5);
    for bad in [
        vec![],
        vec![leaf(f64::NAN)],
        vec![split(0, 1, 2), leaf(0.1)],
        vec![split(0, 0, 1), leaf(0.1)],
        vec![split(2, 1, 2), leaf(0.1), leaf(0.2)],
        vec![split(0, 1, 1), leaf(0.1), leaf(0.2)],
        vec![split(0, 1, 2), leaf(0.1), leaf(0.2), leaf(0.3)],
        vec![
            Node::Split {
                feature: 0,
                threshold: f64::NAN,
                missing_left: false,
                left: 1,
                right: 2,
            },
            leaf(0.1),
            leaf(0.2),
        ],
    ] {
        assert!(
            matches!(Tree::from_nodes(2, bad.clone()), Err(ModelError::InvalidTree(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn format_1_json_files_still_load() {
    let dir = tempfile::tempdir().unwrap();
    // A file exactly as format 1 wrote it: gzip-compressed JSON, enum nodes in pre-order.
    let json = r#"{"format_version":1,"name":"old","config":{"decision_tree":{"max_depth":2}},
        "feature_names":["a","b"],"model":{"kind":"decision_tree","n_features":2,"nodes":[
        {"split":{"feature":1,"threshold":0.5,"left":1,"right":4}},
        {"split":{"feature":0,"threshold":-1.0,"missing_left":true,"left":2,"right":3}},
        {"leaf":{"value":0.125}},{"leaf":{"value":0.25}},{"leaf":{"value":0.875}}]}}"#;
    let path = dir.path().join("old.model.json.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(json.as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let old = SavedModel::load(&path).unwrap();
    assert_eq!(old.format_version, 1);
    let x = ndarray::array![[-2.0, 0.0], [0.0, 0.0], [f64::NAN, 0.0], [0.0, 1.0]];
    let p = old.predict_proba(x.view()).unwrap();
    assert_eq!(p.to_vec(), vec![0.125, 0.25, 0.125, 0.875]);
    let summary = SavedModel::read_summary(&path).unwrap();
    assert_eq!(
        (
            summary.format_version,
            summary.nodes,
            summary.leaves,
            summary.max_depth
        ),
        (1, 5, 3, 2)
    );
    // Saving it again writes format 2 with the same predictions.
    let new_path = dir.path().join(SavedModel::file_name("old"));
    old.save(&new_path).unwrap();
    let new = SavedModel::load(&new_path).unwrap();
    assert_eq!(new.format_version, MODEL_FORMAT);
    assert_eq!(bits(&new.predict_proba(x.view()).unwrap()), bits(&p));
    // A format-1 file with a broken tree is refused, naming the file.
    let broken = json.replace(r#""right":4"#, r#""right":0"#);
    let broken_path = dir.path().join("broken.model.json.gz");
    std::fs::write(&broken_path, broken).unwrap();
    load_error(&broken_path);
    // So is damaged gzip.
    let mut gz = std::fs::read(&path).unwrap();
    let mid = gz.len() / 2;
    gz.truncate(mid);
    std::fs::write(&broken_path, gz).unwrap();
    load_error(&broken_path);
}

#[test]
fn inconsistent_models_are_not_saved() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = saved(&ModelConfig::DecisionTree(DecisionTreeParams::default()), 300);
    m.feature_names.pop();
    let path = dir.path().join("m.model.bin");
    let err = m.save(&path).unwrap_err().to_string();
    assert!(
        err.contains("feature names") && err.contains("m.model.bin"),
        "{err}"
    );
    assert!(!path.exists());
}

/// Every fitted tree records the training weight that reached each node: all rows at
/// the root (a forest draws as many rows as there are by default), and a split's cover
/// is the sum of its children's. Files of format 2, which have no covers, still load.
#[test]
fn trees_record_their_node_covers_and_format_2_files_load_without_them() {
    let rows = 400;
    let linfa = ModelConfig::DecisionTree(DecisionTreeParams {
        engine: replay_models::tree::TreeEngine::Linfa,
        ..Default::default()
    });
    for config in configs().iter().skip(1).chain([&linfa]) {
        let model = saved(config, rows);
        let trees: Vec<&Tree> = match &model.model {
            Model::DecisionTree(t) => vec![t],
            Model::RandomForest(f) => f.trees.iter().collect(),
            Model::GradientBoosting(b) => b.trees.iter().collect(),
            Model::LogisticRegression(_) => unreachable!(),
        };
        for tree in trees {
            let cover = tree.cover().expect("a fitted tree has covers");
            assert_eq!(cover[0], rows as f32, "{}", config.kind());
            for (i, node) in tree.nodes().enumerate() {
                if let Node::Split { left, right, .. } = node {
                    assert_eq!(cover[i], cover[left] + cover[right]);
                    assert!(cover[left] > 0.0 && cover[right] > 0.0);
                }
            }
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.model.bin");
    let model = tiny_forest();
    model.save(&path).unwrap();
    let mut parts = take_apart(&std::fs::read(&path).unwrap());
    parts.header["trees"].as_object_mut().unwrap().remove("covered");
    let header = serde_json::to_vec(&parts.header).unwrap();
    let old = dir.path().join("old.model.bin");
    std::fs::write(&old, seal_as(2, &header, &parts.trees, &[], None)).unwrap();
    let loaded = SavedModel::load(&old).unwrap();
    assert_eq!(loaded.format_version, 2);
    let Model::RandomForest(forest) = &loaded.model else {
        panic!("a forest")
    };
    assert!(forest.trees.iter().all(|t| t.cover().is_none()));
    let (x, _) = synthetic(50, 9);
    assert_eq!(
        bits(&loaded.predict_proba(x.view()).unwrap()),
        bits(&model.predict_proba(x.view()).unwrap())
    );
    let (old_summary, new_summary) = (
        SavedModel::read_summary(&old).unwrap(),
        SavedModel::read_summary(&path).unwrap(),
    );
    assert_eq!((old_summary.format_version, old_summary.covered), (2, 0));
    assert_eq!(new_summary.covered, new_summary.nodes);
}
