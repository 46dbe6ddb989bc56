//! The whole pipeline on generated data: caching, invalidation, determinism, reuse of
//! saved artifacts, and failures that leave nothing half-written.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::{assert_rescoring_reproduces, config_for, project_config, run, statuses};
use indicatif::ProgressBar;
use replay_features::FeatureMatrix;
use replay_pipeline::stages::score;
use replay_pipeline::{run_pipeline, PipelineError, RunOptions, StageKind, StageStatus};

use StageStatus::{Cached, Ran};

fn synthetic(dir: &Path, rows: usize) -> PathBuf {
    let path = dir.join("tracks.csv");
    replay_synth::generate_file(&path, rows, 11).unwrap();
    path
}

#[test]
fn unchanged_stages_are_cached_and_a_label_change_reruns_only_what_depends_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(&synthetic(dir.path(), 3000));
    let artifacts = dir.path().join("artifacts");
    let first = run(&config, &artifacts);
    assert_eq!(
        statuses(&first),
        [
            ("ingest", Ran),
            ("features", Ran),
            ("train", Ran),
            ("eval", Ran),
            ("report", Ran)
        ]
    );
    let second = run(&config, &artifacts);
    assert_eq!(
        statuses(&second),
        [
            ("ingest", Cached),
            ("features", Cached),
            ("train", Cached),
            ("eval", Cached),
            ("report", Cached)
        ]
    );
    assert_eq!(first.metrics, second.metrics);

    config.label.threshold = 40.0;
    let third = run(&config, &artifacts);
    assert_eq!(
        statuses(&third),
        [
            ("ingest", Cached),
            ("features", Ran),
            ("train", Ran),
            ("eval", Ran),
            ("report", Ran)
        ]
    );
    let latest = artifacts.join("latest");
    for file in [
        "metrics.json",
        "tracks.parquet",
        "train.parquet",
        "feature_spec.json",
        "models/decision_tree.model.bin",
    ] {
        assert!(latest.join(file).is_file(), "latest/{file} missing");
    }
    let spec = fs::read_to_string(latest.join("feature_spec.json")).unwrap();
    assert!(spec.contains("\"label_threshold\": 40.0"));
}

#[test]
fn changing_one_models_hyperparameters_refits_and_rescores_only_that_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(&synthetic(dir.path(), 3000));
    let artifacts = dir.path().join("artifacts");
    let first = run(&config, &artifacts);
    let entries = |namespace: &str| {
        fs::read_dir(artifacts.join("cache").join(namespace))
            .unwrap()
            .count()
    };
    assert_eq!((entries("model"), entries("model-eval")), (4, 4));
    let model_bytes = |name: &str| {
        fs::read(
            artifacts
                .join("latest/models")
                .join(replay_models::SavedModel::file_name(name)),
        )
        .unwrap()
    };
    let forest_before = model_bytes("random_forest");

    for (name, model) in config.models.iter_mut() {
        if let replay_models::ModelConfig::GradientBoosting(p) = model {
            assert_eq!(name.as_str(), "gradient_boosting");
            p.n_iter = 30;
        }
    }
    let second = run(&config, &artifacts);
    assert_eq!(
        statuses(&second),
        [
            ("ingest", Cached),
            ("features", Cached),
            ("train", Ran),
            ("eval", Ran),
            ("report", Ran)
        ]
    );
    assert!(
        second.stages[2].summary.contains("3 unchanged, reused"),
        "{}",
        second.stages[2].summary
    );
    // One new fit and one new evaluation; the other models' files and metrics are the same.
    assert_eq!((entries("model"), entries("model-eval")), (5, 5));
    assert_eq!(model_bytes("random_forest"), forest_before);
    let (before, after) = (first.metrics.unwrap(), second.metrics.unwrap());
    for name in ["logistic_regression", "decision_tree", "random_forest"] {
        assert_eq!(before.models[name], after.models[name], "{name}");
    }
    assert_ne!(
        before.models["gradient_boosting"],
        after.models["gradient_boosting"]
    );
}

#[test]
fn a_directory_of_part_files_is_one_source_whose_parts_are_all_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let whole = fs::read_to_string(synthetic(dir.path(), 3000)).unwrap();
    let (header, rows) = whole.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    let parts = dir.path().join("parts");
    fs::create_dir(&parts).unwrap();
    let write_part = |name: &str, rows: &[&str]| {
        fs::write(parts.join(name), format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    };
    write_part("part-00000.csv", &rows[..1000]);
    write_part("part-00001.csv", &rows[1000..]);
    fs::write(parts.join("_SUCCESS"), "").unwrap();
    let config = config_for(&parts);
    let artifacts = dir.path().join("artifacts");
    let first = run(&config, &artifacts);
    assert!(
        first.stages[0].summary.starts_with("3000 rows read"),
        "{}",
        first.stages[0].summary
    );
    assert_eq!(statuses(&run(&config, &artifacts))[0], ("ingest", Cached));
    // Changing any part changes the source.
    write_part("part-00001.csv", &rows[1000..2500]);
    let third = run(&config, &artifacts);
    assert_eq!(statuses(&third)[0], ("ingest", Ran));
    assert!(
        third.stages[0].summary.starts_with("2500 rows read"),
        "{}",
        third.stages[0].summary
    );
}

#[test]
fn a_truncated_cached_artifact_is_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&synthetic(dir.path(), 2000));
    let artifacts = dir.path().join("artifacts");
    let first = run(&config, &artifacts);
    let train = first.stages[1].dir.join("train.parquet");
    let bytes = fs::read(&train).unwrap();
    fs::write(&train, &bytes[..bytes.len() / 2]).unwrap();
    let second = run(&config, &artifacts);
    let status = statuses(&second);
    assert!(
        matches!(&status[1].1, StageStatus::Recomputed(reason) if reason.contains("train.parquet")),
        "{status:?}"
    );
    // The recomputed output is identical, so everything downstream stays cached.
    assert_eq!(
        status[2..],
        [("train", Cached), ("eval", Cached), ("report", Cached)]
    );
    assert_eq!(fs::read(&train).unwrap(), bytes);
}

#[test]
fn what_an_interrupted_run_left_is_swept_and_two_runs_at_once_compute_each_stage_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&synthetic(dir.path(), 2000));
    let artifacts = dir.path().join("artifacts");
    // A run killed while training leaves its temporary entry directory behind.
    let stale = artifacts.join("cache/train/.0123456789abcdef.tmp-99999-7");
    fs::create_dir_all(stale.join("models")).unwrap();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run(&config, &artifacts));
        let b = s.spawn(|| run(&config, &artifacts));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(!stale.exists());
    assert_eq!(a.swept_temporaries + b.swept_temporaries, 1);
    // Whichever run took the lock first computed every stage; the other reused them all.
    let ran: Vec<usize> = [&a, &b]
        .iter()
        .map(|r| statuses(r).iter().filter(|(_, s)| *s == Ran).count())
        .collect();
    assert!(ran == [5, 0] || ran == [0, 5], "{ran:?}");
    assert_eq!(a.metrics, b.metrics);
}

#[test]
fn cache_gc_keeps_what_recent_runs_used_and_removes_the_rest() {
    use replay_pipeline::cache::{collect_garbage, list_entries};
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(&synthetic(dir.path(), 1500));
    let artifacts = dir.path().join("artifacts");
    run(&config, &artifacts);
    let first: Vec<String> = list_entries(&artifacts)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    // 5 stages and, per model, a fit and a scoring entry.
    assert_eq!(first.len(), 5 + 2 * config.models.len(), "{first:?}");
    config.eval.bootstrap_samples = 20;
    run(&config, &artifacts);
    let entries = list_entries(&artifacts).unwrap();
    // The second run rescored every model and reran eval and report: entries used by run 2 only.
    let rescored = config.models.len() + 2;
    assert_eq!(entries.len(), first.len() + rescored);
    let last_used = |name: &str| entries.iter().find(|e| e.name == name).and_then(|e| e.last_run);
    assert!(first
        .iter()
        .filter(|n| n.starts_with("ingest/"))
        .all(|n| last_used(n) == Some(2)));
    assert!(entries.iter().all(|e| e.bytes > 0));
    let collected = collect_garbage(&artifacts, 1).unwrap();
    assert_eq!((collected.removed, collected.kept), (rescored, first.len()));
    // What the last run used is still there: a rerun is fully cached.
    let again = run(&config, &artifacts);
    assert!(
        statuses(&again).iter().all(|(_, s)| *s == Cached),
        "{:?}",
        statuses(&again)
    );
    // The first run's eval and report entries are gone.
    config.eval.bootstrap_samples = replay_eval::EvalConfig::default().bootstrap_samples;
    let back = run(&config, &artifacts);
    assert_eq!(
        statuses(&back),
        [
            ("ingest", Cached),
            ("features", Cached),
            ("train", Cached),
            ("eval", Ran),
            ("report", Ran)
        ]
    );
}

#[test]
fn force_refits_and_rescores_every_model() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&synthetic(dir.path(), 1500));
    let artifacts = dir.path().join("artifacts");
    let first = run(&config, &artifacts);
    let options = RunOptions {
        artifacts: artifacts.clone(),
        force: true,
        ..Default::default()
    };
    let forced = run_pipeline(&config, &options).unwrap();
    assert!(statuses(&forced).iter().all(|(_, s)| *s == Ran));
    let train = &forced.stages[2].summary;
    assert!(
        train.starts_with("4 models fitted") && !train.contains("reused"),
        "{train}"
    );
    assert_eq!(forced.metrics, first.metrics);
}

#[test]
fn no_track_is_in_both_train_and_test_even_with_repeated_ids() {
    let dir = tempfile::tempdir().unwrap();
    let source = synthetic(dir.path(), 2000);
    // Append every tenth row again: the same ids, as a track listed in two playlists.
    let text = fs::read_to_string(&source).unwrap();
    let repeated: Vec<&str> = text.lines().skip(1).step_by(10).collect();
    fs::write(&source, format!("{}{}\n", text, repeated.join("\n"))).unwrap();
    let summary = run(&config_for(&source), &dir.path().join("artifacts"));
    let features = &summary.stages[1].dir;
    let train = FeatureMatrix::read(&features.join("train.parquet")).unwrap();
    let test = FeatureMatrix::read(&features.join("test.parquet")).unwrap();
    let train_ids: HashSet<&String> = train.ids.iter().collect();
    assert_eq!(train_ids.len(), train.ids.len(), "an id repeats within train");
    assert!(
        test.ids.iter().all(|id| !train_ids.contains(id)),
        "an id is in train and test"
    );
    assert_eq!(train.ids.len() + test.ids.len(), 2000);
}

#[test]
fn the_same_seed_gives_bit_identical_models_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&synthetic(dir.path(), 2500));
    run(&config, &dir.path().join("a"));
    run(&config, &dir.path().join("b"));
    for file in [
        "metrics.json",
        "models/logistic_regression.model.bin",
        "models/decision_tree.model.bin",
        "test.parquet",
    ] {
        let a = fs::read(dir.path().join("a/latest").join(file)).unwrap();
        let b = fs::read(dir.path().join("b/latest").join(file)).unwrap();
        assert!(a == b, "{file} differs between two runs");
    }
}

#[test]
fn saved_models_and_spec_reproduce_the_evaluated_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let source = synthetic(dir.path(), 2500);
    let config = config_for(&source);
    run(&config, &dir.path().join("artifacts"));
    assert_rescoring_reproduces(&config, &dir.path().join("artifacts/latest"), &source);
}

#[test]
fn pipeline_toml_encodes_the_artists_list_and_reproduces_the_evaluated_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let source = synthetic(dir.path(), 2500);
    let config = project_config("pipeline.toml", &source);
    let summary = run(&config, &dir.path().join("artifacts"));
    let latest = dir.path().join("artifacts/latest");
    let test = FeatureMatrix::read(&latest.join("test.parquet")).unwrap();
    for name in [
        "year",
        "month",
        "age",
        "artists_target_mean",
        "artists_count",
        "artists_length",
    ] {
        assert!(
            test.names.iter().any(|n| n == name),
            "{name} missing from {:?}",
            test.names
        );
    }
    // The synthetic artists carry a popularity effect: their target encoding helps.
    let metrics = summary.metrics.unwrap();
    let plain = run(&config_for(&source), &dir.path().join("plain"))
        .metrics
        .unwrap();
    let auc = |m: &replay_eval::MetricsReport| m.models["gradient_boosting"].roc_auc;
    assert!(
        auc(&metrics) > auc(&plain),
        "{} vs {}",
        auc(&metrics),
        auc(&plain)
    );
    assert_rescoring_reproduces(&config, &latest, &source);
}

#[test]
fn new_songs_without_popularity_can_be_scored() {
    let dir = tempfile::tempdir().unwrap();
    let source = synthetic(dir.path(), 1500);
    let config = config_for(&source);
    run(&config, &dir.path().join("artifacts"));
    let mut reader = csv::Reader::from_path(&source).unwrap();
    let header = reader.headers().unwrap().clone();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| &header[i] != "popularity")
        .collect();
    let new_songs = dir.path().join("new.csv");
    let mut writer = csv::Writer::from_path(&new_songs).unwrap();
    writer.write_record(keep.iter().map(|&i| &header[i])).unwrap();
    for record in reader.records().take(50) {
        let record = record.unwrap();
        writer.write_record(keep.iter().map(|&i| &record[i])).unwrap();
    }
    writer.flush().unwrap();
    let latest = dir.path().join("artifacts/latest");
    // No config: the feature spec says how the training songs were read.
    let scored = score(
        None,
        &latest.join("feature_spec.json"),
        &latest.join("models/logistic_regression.model.bin"),
        &new_songs,
        &ProgressBar::hidden(),
    )
    .unwrap();
    assert_eq!(scored.len(), 50);
    assert!(scored.iter().all(|s| (0.0..=1.0).contains(&s.probability)));
}

#[test]
fn run_stage_reruns_one_stage_from_cached_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&synthetic(dir.path(), 1500));
    let artifacts = dir.path().join("artifacts");
    let only = |kind| RunOptions {
        artifacts: artifacts.clone(),
        only: Some(kind),
        ..Default::default()
    };
    let err = run_pipeline(&config, &only(StageKind::Train)).unwrap_err();
    assert!(
        matches!(err, PipelineError::NotCached(ref s) if s == "ingest"),
        "{err}"
    );
    run(&config, &artifacts);
    let summary = run_pipeline(&config, &only(StageKind::Train)).unwrap();
    assert_eq!(
        statuses(&summary),
        [("ingest", Cached), ("features", Cached), ("train", Ran)]
    );
    assert!(summary.latest.is_none());
}

#[test]
fn a_bad_source_fails_clearly_and_leaves_no_half_written_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("broken.csv");
    fs::write(&source, "id,popularity,year\na,50,2001\n").unwrap();
    let artifacts = dir.path().join("artifacts");
    let options = RunOptions {
        artifacts: artifacts.clone(),
        ..Default::default()
    };
    let err = run_pipeline(&config_for(&source), &options)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("broken.csv") && err.contains("not in the header"),
        "{err}"
    );
    let entries: Vec<_> = match fs::read_dir(artifacts.join("cache/ingest")) {
        Ok(dir) => dir.collect(),
        Err(_) => vec![],
    };
    assert!(entries.is_empty(), "left behind: {entries:?}");
    assert!(!artifacts.join("latest").exists());

    let missing = run_pipeline(&config_for(&dir.path().join("nope.csv")), &options)
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("nope.csv") && missing.contains("not found"),
        "{missing}"
    );
}

#[test]
fn the_report_inlines_every_chart_and_every_png_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&synthetic(dir.path(), 2000));
    run(&config, &dir.path().join("artifacts"));
    let latest = dir.path().join("artifacts/latest");
    let html = fs::read_to_string(latest.join("report.html")).unwrap();
    let mut pngs = 0;
    for entry in fs::read_dir(latest.join("plots")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "png") {
            pngs += 1;
            let bytes = fs::read(&path).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
            assert!(bytes.len() > 10_000, "{} looks empty", path.display());
        }
    }
    // ROC, PR, calibration; a confusion matrix and a histogram for each of the four
    // default models; feature importances of the forest and the boosting; the "Why"
    // section: every model's mean |contribution|, the best model's beeswarm, 4
    // dependence plots and 10 waterfalls.
    assert_eq!(pngs, 3 + 2 * 4 + 2 + 4 + 1 + 4 + 10);
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), pngs);
    for needle in [
        "logistic_regression",
        "decision_tree",
        "ROC-AUC [95% CI]",
        "cache key",
        "[split]",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle}");
    }
    let markdown = fs::read_to_string(latest.join("report.md")).unwrap();
    assert!(markdown.contains("| model | ROC-AUC [95% CI]"));
}

/// A yes/no label column read with `[label] column` gives exactly the metrics of the
/// popularity it was derived from with the default threshold.
#[test]
fn a_label_column_trains_as_the_popularity_threshold_it_encodes() {
    let dir = tempfile::tempdir().unwrap();
    let source = synthetic(dir.path(), 3000);
    let mut reader = csv::Reader::from_path(&source).unwrap();
    let header = reader.headers().unwrap().clone();
    let at = header.iter().position(|c| c == "popularity").unwrap();
    let hits = dir.path().join("hits.csv");
    let mut writer = csv::Writer::from_path(&hits).unwrap();
    writer
        .write_record(header.iter().map(|c| if c == "popularity" { "hit" } else { c }))
        .unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        let hit = if record[at].parse::<f64>().unwrap() >= 50.0 {
            "yes"
        } else {
            "no"
        };
        writer
            .write_record(
                record
                    .iter()
                    .enumerate()
                    .map(|(i, v)| if i == at { hit } else { v }),
            )
            .unwrap();
    }
    writer.flush().unwrap();
    let by_popularity = config_for(&source);
    run(&by_popularity, &dir.path().join("a"));
    let mut by_label = config_for(&hits);
    by_label.columns.popularity = String::new();
    by_label.label.column = Some("hit".into());
    run(&by_label, &dir.path().join("b"));
    let metrics = |d: &str| fs::read_to_string(dir.path().join(d).join("latest/metrics.json")).unwrap();
    assert_eq!(metrics("b"), metrics("a"));
}
