//! Each config section in turn: change it, rerun, and check exactly which stages ran
//! again. A stage reruns when its own settings or code change, or when the content of an
//! input changed; a rerun that reproduces its outputs byte for byte leaves the stages
//! after it cached.

mod common;

use std::fs;

use common::{config_for, run, statuses};
use replay_models::ModelConfig;
use replay_pipeline::config::ModelName;
use replay_pipeline::{PipelineConfig, StageStatus};

use StageStatus::{Cached, Ran};

type Change = fn(&mut PipelineConfig, &std::path::Path);

#[test]
fn each_config_section_reruns_exactly_the_stages_that_depend_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tracks.csv");
    replay_synth::generate_file(&source, 2000, 13).unwrap();
    let cases: Vec<(&str, Change, [StageStatus; 5])> = vec![
        (
            "[source] content",
            |_, source| {
                let text = fs::read_to_string(source).unwrap();
                // Drop the last track.
                let cut = text.trim_end().rfind('\n').unwrap();
                fs::write(source, &text[..=cut]).unwrap();
            },
            [Ran, Ran, Ran, Ran, Ran],
        ),
        (
            "[columns]",
            |c, _| {
                c.columns.numeric.retain(|n| n != "liveness");
                c.columns.drop.push("liveness".into());
            },
            [Ran, Ran, Ran, Ran, Ran],
        ),
        (
            // The tracks come out identical, so features, train and eval stay cached; the
            // report shows every stage's cache key, and ingest's changed.
            "[ingest]",
            |c, _| c.ingest.max_rejected_fraction = 0.5,
            [Ran, Cached, Cached, Cached, Ran],
        ),
        (
            "[label]",
            |c, _| c.label.threshold = 45.0,
            [Cached, Ran, Ran, Ran, Ran],
        ),
        ("[split]", |c, _| c.split.seed = 7, [Cached, Ran, Ran, Ran, Ran]),
        (
            "[features]",
            |c, _| c.features.standardize = false,
            [Cached, Ran, Ran, Ran, Ran],
        ),
        (
            "[models.logistic_regression]",
            |c, _| {
                let key = ModelName::try_from("logistic_regression".to_string()).unwrap();
                if let Some(ModelConfig::LogisticRegression(p)) = c.models.get_mut(&key) {
                    p.c = 0.5;
                }
            },
            [Cached, Cached, Ran, Ran, Ran],
        ),
        (
            "[models.random_forest]",
            |c, _| {
                let key = ModelName::try_from("random_forest".to_string()).unwrap();
                if let Some(ModelConfig::RandomForest(p)) = c.models.get_mut(&key) {
                    p.n_trees = 7;
                }
            },
            [Cached, Cached, Ran, Ran, Ran],
        ),
        (
            "[eval]",
            |c, _| c.eval.bootstrap_samples = 50,
            [Cached, Cached, Cached, Ran, Ran],
        ),
    ];
    let mut config = config_for(&source);
    // Small models keep the test quick.
    for m in config.models.values_mut() {
        if let ModelConfig::RandomForest(p) = m {
            p.n_trees = 10;
        }
        if let ModelConfig::GradientBoosting(p) = m {
            p.n_iter = 10;
        }
    }
    let artifacts = dir.path().join("artifacts");
    run(&config, &artifacts);
    for (section, change, expected) in cases {
        change(&mut config, &source);
        let summary = run(&config, &artifacts);
        let got: Vec<StageStatus> = statuses(&summary).into_iter().map(|(_, s)| s).collect();
        assert_eq!(got, expected, "after changing {section}");
        // And once more, unchanged: everything is cached.
        let again = run(&config, &artifacts);
        assert!(
            statuses(&again).iter().all(|(_, s)| *s == Cached),
            "{section}: {:?}",
            statuses(&again)
        );
    }
}
