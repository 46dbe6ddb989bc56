//! The workspace's dependency invariants (ARCHITECTURE.md, "Invariants"), checked with
//! `cargo tree` on the crates as other projects would depend on them.

use std::process::Command;

/// The crates `package` pulls in for normal builds (`cargo tree -e normal`), by name.
fn dependencies(package: &str, extra: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn assert_none_of(package: &str, extra: &[&str], banned: &[&str]) {
    let deps = dependencies(package, extra);
    assert!(deps.len() > 1, "{package}: {deps:?}");
    let found: Vec<&String> = deps.iter().filter(|d| banned.contains(&d.as_str())).collect();
    assert!(found.is_empty(), "{package} {extra:?} depends on {found:?}");
}

#[test]
fn models_metrics_and_core_build_without_arrow_parquet_or_plotters() {
    let heavy = ["arrow", "parquet", "plotters"];
    assert_none_of("replay-models", &[], &heavy);
    assert_none_of("replay-metrics", &[], &heavy);
    assert_none_of("replay-eval", &["--no-default-features"], &heavy);
    assert_none_of("replay-eval", &[], &["arrow", "parquet"]);
    assert_none_of("replay-core", &[], &heavy);
    // The check can fail: the report feature does bring plotters in.
    assert!(dependencies("replay-eval", &[]).iter().any(|d| d == "plotters"));
}

#[test]
fn stage_features_bring_the_file_formats_and_models_never_need_the_eval_stage() {
    // A model scores itself with replay-metrics; replay-eval depends on the models.
    assert_none_of(
        "replay-models",
        &["--features", "stage"],
        &["replay-eval", "plotters"],
    );
    for (package, feature) in [("replay-models", "stage"), ("replay-eval", "stage")] {
        let deps = dependencies(package, &["--no-default-features", "--features", feature]);
        assert!(
            deps.iter().any(|d| d == "parquet"),
            "{package} +{feature}: {deps:?}"
        );
    }
}

#[test]
fn cargo_xtask_builds_clean_and_gen_data_without_arrow_or_the_models() {
    // The build the `cargo xtask` alias makes (no default features).
    let heavy = [
        "arrow",
        "parquet",
        "plotters",
        "linfa",
        "ndarray",
        "replay-models",
        "replay-pipeline",
    ];
    assert_none_of("xtask", &["--no-default-features"], &heavy);
    assert!(dependencies("xtask", &[]).iter().any(|d| d == "replay-pipeline"));
}

#[test]
fn only_the_binaries_use_anyhow() {
    for library in [
        "replay-core",
        "replay-parquet",
        "replay-ingest",
        "replay-features",
        "replay-metrics",
        "replay-models",
        "replay-eval",
        "replay-synth",
        "replay-pipeline",
    ] {
        assert_none_of(library, &[], &["anyhow"]);
    }
    assert!(dependencies("replay-cli", &[]).iter().any(|d| d == "anyhow"));
}
