//! `replay init` proposes the roles the project's own configs give the two known schemas.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::shared_data;
use replay_pipeline::init::{config_text, propose};
use replay_pipeline::PipelineConfig;

/// The config `replay init` writes for `source`, read back.
fn proposed(source: &Path) -> PipelineConfig {
    let sniffed = replay_ingest::sniff(source).unwrap();
    let text = config_text(&sniffed, &propose(&sniffed));
    PipelineConfig::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn project_config(relative: &str) -> PipelineConfig {
    PipelineConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)).unwrap()
}

fn set(names: &[String]) -> BTreeSet<&str> {
    names.iter().map(String::as_str).collect()
}

/// Id, popularity, release date and numeric inputs as in `expected`; its categorical
/// columns are categorical or dropped here (the documented encodings aside).
fn assert_same_roles(got: &PipelineConfig, expected: &PipelineConfig) {
    let (g, e) = (&got.columns, &expected.columns);
    assert_eq!(g.id, e.id);
    assert_eq!(g.popularity, e.popularity);
    assert_eq!(g.release_date, e.release_date);
    assert_eq!(set(&g.numeric), set(&e.numeric));
    let text_columns: BTreeSet<&str> = set(&g.categorical).union(&set(&g.drop)).copied().collect();
    let expected_text: BTreeSet<&str> = set(&e.categorical).union(&set(&e.drop)).copied().collect();
    assert_eq!(text_columns, expected_text);
    for c in &e.categorical {
        assert!(g.categorical.contains(c), "{c} is categorical in both");
    }
}

#[test]
fn init_on_the_kaggle_schema_proposes_pipeline_toml() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/kaggle_synthetic_20k.csv.gz");
    let got = proposed(&source);
    assert_same_roles(&got, &project_config("pipeline.toml"));
    assert_eq!(
        got.features.encode.get("artists"),
        Some(&replay_features::Encoding::TargetList)
    );
    assert!(
        got.columns.drop.contains(&"name".to_string()),
        "a title is dropped"
    );
}

#[test]
fn init_on_the_tidytuesday_file_proposes_the_seed_config_roles() {
    let Some(source) = shared_data("spotify_songs.csv.gz") else {
        return;
    };
    assert_same_roles(
        &proposed(&source),
        &project_config("configs/spotify_songs_seed.toml"),
    );
}

#[test]
fn init_reads_a_yes_no_column_as_the_label_when_there_is_no_popularity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hits.csv");
    let mut text = String::from("song,hit,energy\n");
    for i in 0..40 {
        let hit = if i % 3 == 0 { "yes" } else { "no" };
        text.push_str(&format!("s{i},{hit},0.{i}\n"));
    }
    std::fs::write(&path, text).unwrap();
    let config = proposed(&path);
    assert_eq!(config.label.column.as_deref(), Some("hit"));
    assert_eq!(config.column_map().label.as_deref(), Some("hit"));
    assert!(config.columns.popularity.is_empty());
    assert_eq!(config.columns.numeric, ["energy"]);
}
