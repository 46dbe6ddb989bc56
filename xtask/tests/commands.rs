//! `cargo xtask` as a user runs it: a separate process per command, checked by exit code,
//! output and the files it leaves.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn xtask(args: &[&str], threads: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args);
    if let Some(n) = threads {
        command.env("RAYON_NUM_THREADS", n);
    }
    command.output().expect("xtask runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Synthetic tracks in the default schema, written by `xtask gen-data`.
fn tracks(dir: &Path, rows: usize) -> PathBuf {
    let path = dir.join("tracks.csv");
    let out = xtask(
        &[
            "gen-data",
            "--rows",
            &rows.to_string(),
            "--out",
            path.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("wrote {rows} synthetic tracks")));
    path
}

fn run_pipeline(input: &Path, artifacts: &Path, threads: Option<&str>) -> Output {
    let out = xtask(
        &[
            "run-pipeline",
            "--input",
            input.to_str().unwrap(),
            "--artifacts",
            artifacts.to_str().unwrap(),
        ],
        threads,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

/// Every file below `dir`, relative to it, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_whole_pipeline_gives_byte_identical_artifacts_with_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let input = tracks(dir.path(), 3000);
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    run_pipeline(&input, &one, Some("1"));
    run_pipeline(&input, &two, Some("2"));
    let (latest_one, latest_two) = (one.join("latest"), two.join("latest"));
    let names = files(&latest_one);
    assert_eq!(names, files(&latest_two));
    assert!(
        names.iter().any(|n| n.ends_with("random_forest.model.bin")),
        "{names:?}"
    );
    for name in &names {
        let (a, b) = (latest_one.join(name), latest_two.join(name));
        if name == Path::new("run.json") {
            // Times and memory differ; the cache keys and statuses may not.
            let keys = |p: &Path| -> Vec<(String, String)> {
                let run: serde_json::Value = serde_json::from_slice(&fs::read(p).unwrap()).unwrap();
                run["stages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| (s["key"].to_string(), s["status"].to_string()))
                    .collect()
            };
            assert_eq!(keys(&a), keys(&b));
        } else {
            assert!(
                fs::read(&a).unwrap() == fs::read(&b).unwrap(),
                "{} differs",
                name.display()
            );
        }
    }
}

#[test]
fn run_stage_reruns_one_stage_and_clean_removes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let input = tracks(dir.path(), 1500);
    let artifacts = dir.path().join("artifacts");
    let first = text(&run_pipeline(&input, &artifacts, None).stdout);
    for stage in ["ingest", "features", "train", "eval", "report"] {
        assert!(
            first.lines().any(|l| l.starts_with(stage) && l.contains(" ran ")),
            "{first}"
        );
    }
    let again = text(&run_pipeline(&input, &artifacts, None).stdout);
    assert_eq!(
        again.lines().filter(|l| l.contains(" cached ")).count(),
        5,
        "{again}"
    );
    let (a, i) = (artifacts.to_str().unwrap(), input.to_str().unwrap());
    let out = xtask(&["run-stage", "eval", "--input", i, "--artifacts", a], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("eval") && l.contains(" ran ")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("train") && l.contains(" cached ")),
        "{stdout}"
    );
    let out = xtask(&["clean", "--artifacts", a], None);
    assert!(out.status.success());
    assert!(!artifacts.join("cache").exists() && !artifacts.join("latest").exists());
    // Nothing is cached any more, so one stage alone cannot run.
    let out = xtask(&["run-stage", "eval", "--input", i, "--artifacts", a], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: stage 'ingest' has no cached outputs"),
        "{stderr}"
    );
}

#[test]
fn bad_arguments_and_files_give_one_clear_error_line_and_a_failing_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("artifacts");
    let a = artifacts.to_str().unwrap();
    let bad_config = dir.path().join("bad.toml");
    fs::write(&bad_config, "[split]\ntest_fraction = 1.5\n").unwrap();
    let cases: Vec<(Vec<String>, i32, String)> = vec![
        (
            vec!["run-pipeline".into(), "--input".into(), "/no/such/file.csv".into(), "--artifacts".into(), a.into()],
            1,
            "error: ingest: /no/such/file.csv: data source not found".into(),
        ),
        (
            vec!["run-pipeline".into(), "--config".into(), bad_config.to_str().unwrap().into(), "--artifacts".into(), a.into()],
            1,
            format!("error: {}", bad_config.display()),
        ),
        (
            vec!["run-stage".into(), "predict".into(), "--artifacts".into(), a.into()],
            1,
            "error: unknown stage 'predict'; the stages are ingest, features, train, eval, report".into(),
        ),
        (
            vec!["tune".into(), "--validation-fraction".into(), "1.5".into()],
            2,
            "error: invalid value '1.5' for '--validation-fraction <VALIDATION_FRACTION>': expected a number strictly between 0 and 1, got 1.5".into(),
        ),
        (
            vec!["bench".into(), "--input".into(), "x.csv".into(), "--repeats".into(), "0".into()],
            2,
            "error: invalid value '0' for '--repeats <REPEATS>': expected at least 1".into(),
        ),
        (vec!["no-such-command".into()], 2, "error: unrecognized subcommand 'no-such-command'".into()),
    ];
    for (args, code, first_line) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = xtask(&args, None);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        let line = stderr.lines().next().unwrap_or_default();
        assert!(line.starts_with(&first_line), "{args:?}: {line}");
    }
    // The bad config's line is named.
    let out = xtask(
        &[
            "run-pipeline",
            "--config",
            bad_config.to_str().unwrap(),
            "--artifacts",
            a,
        ],
        None,
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("strictly between 0 and 1"),
        "{stderr}"
    );
    assert!(!artifacts.join("latest").exists());
}
