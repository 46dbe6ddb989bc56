//! The `replay` binary as a user runs it: every stage on explicit paths, then `score`,
//! each a separate process checked by exit code, output and files; and bad input.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replay"))
        .args(args)
        .output()
        .expect("replay runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run a stage and check that it says what it did and where.
fn stage(name: &str, args: &[&str], out: &Path) {
    let mut all = vec![name];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let output = replay(&all);
    assert!(output.status.success(), "{name}: {}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with(&format!("{name}: ")), "{stdout}");
    assert!(
        stdout.contains(&format!("outputs: {}", out.display())),
        "{stdout}"
    );
}

#[test]
fn every_stage_runs_on_explicit_paths_and_score_ranks_new_songs() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    let p = |name: &str| d(name).to_str().unwrap().to_string();
    replay_synth::generate_file(&d("tracks.csv"), 2000, 5).unwrap();

    stage("ingest", &["--input", &p("tracks.csv")], &d("ingest"));
    stage(
        "features",
        &["--tracks", &p("ingest/tracks.parquet")],
        &d("features"),
    );
    stage("train", &["--train", &p("features/train.parquet")], &d("train"));
    stage(
        "eval",
        &[
            "--test",
            &p("features/test.parquet"),
            "--models",
            &p("train/models"),
        ],
        &d("eval"),
    );
    stage(
        "report",
        &[
            "--ingest-report",
            &p("ingest/ingest_report.json"),
            "--split-report",
            &p("features/split_report.json"),
            "--models",
            &p("train/models"),
            "--metrics",
            &p("eval/metrics.json"),
            "--predictions",
            &p("eval/predictions.parquet"),
        ],
        &d("report"),
    );
    assert!(d("report/report.html").is_file() && d("eval/metrics.json").is_file());

    // Songs to score: the same tracks (their popularity is not read).
    let args = [
        "score",
        "--input",
        &p("tracks.csv"),
        "--spec",
        &p("features/feature_spec.json"),
        "--model",
        &p("train/models/gradient_boosting.model.bin"),
    ];
    let out = replay(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("rank,id,probability,replayed"));
    let rows: Vec<(usize, String, f64, bool)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect();
    // Without an operating point in the model, the decision is `[eval] threshold` (0.5).
    assert!(rows.iter().all(|r| r.3 == (r.2 >= 0.5)), "decisions at 0.5");
    assert!(rows.iter().any(|r| r.3) && rows.iter().any(|r| !r.3));
    assert_eq!(rows.len(), 2000);
    assert!(
        rows.iter().enumerate().all(|(i, r)| r.0 == i + 1),
        "ranks 1..n in order"
    );
    assert!(
        rows.windows(2).all(|w| w[0].2 >= w[1].2),
        "most likely replayed first"
    );
    assert!(rows.iter().all(|r| (0.0..=1.0).contains(&r.2)));
    let mut ids: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2000);
    // --out writes the same CSV to a file.
    let mut with_out = args.to_vec();
    let out_path = p("scores.csv");
    with_out.extend_from_slice(&["--out", &out_path]);
    let out = replay(&with_out);
    assert!(out.status.success() && out.stdout.is_empty());
    assert_eq!(fs::read_to_string(&out_path).unwrap(), stdout);

    // Explain 40 of the songs with every model: each song's expected value plus its
    // column contributions (the shown ones and the rest) is its output, which is the
    // probability, or its log-odds for logistic regression and boosting.
    let csv = fs::read_to_string(d("tracks.csv")).unwrap();
    let few: String = csv.lines().take(41).map(|l| format!("{l}\n")).collect();
    fs::write(d("few.csv"), few).unwrap();
    for model in [
        "logistic_regression",
        "decision_tree",
        "random_forest",
        "gradient_boosting",
    ] {
        let model_path = p(&format!("train/models/{model}.model.bin"));
        let json_path = p(&format!("{model}.json"));
        let args = [
            "explain",
            "--input",
            &p("few.csv"),
            "--spec",
            &p("features/feature_spec.json"),
            "--model",
            &model_path,
            "--top",
            "3",
            "--out",
            &json_path,
        ];
        let out = replay(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("wrote 40 songs"),
            "{}",
            text(&out.stdout)
        );
        let e: serde_json::Value = serde_json::from_str(&fs::read_to_string(&json_path).unwrap()).unwrap();
        let log_odds = matches!(model, "logistic_regression" | "gradient_boosting");
        assert_eq!(e["space"], if log_odds { "log-odds" } else { "probability" });
        let songs = e["songs"].as_array().unwrap();
        assert_eq!(songs.len(), 40);
        for song in songs {
            let f = |v: &serde_json::Value| v.as_f64().unwrap();
            let columns = song["columns"].as_array().unwrap();
            assert!(columns.len() <= 3);
            let shown: f64 = columns.iter().map(|c| f(&c["contribution"])).sum();
            let total = f(&e["expected"]) + shown + f(&song["rest"]);
            assert!(
                (total - f(&song["output"])).abs() < 1e-9,
                "{model}: {total} vs {}",
                song["output"]
            );
            let p = f(&song["probability"]);
            let want = if log_odds { (p / (1.0 - p)).ln() } else { p };
            assert!(
                (want - f(&song["output"])).abs() < 1e-6,
                "{model}: {want} vs {}",
                song["output"]
            );
            for c in columns {
                let inputs: f64 = c["inputs"]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|i| f(&i["contribution"]))
                    .sum();
                assert!((inputs - f(&c["contribution"])).abs() < 1e-12);
            }
        }
        // Largest first; the target-list artist column groups its three inputs.
        let first = &songs[0]["columns"];
        let sizes: Vec<f64> = first
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["contribution"].as_f64().unwrap().abs())
            .collect();
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        if model == "gradient_boosting" {
            // CSV and the terminal table.
            let csv_path = p("explained.csv");
            let mut with_csv = args.to_vec();
            with_csv[args.len() - 1] = &csv_path;
            assert!(replay(&with_csv).status.success());
            let csv = fs::read_to_string(&csv_path).unwrap();
            assert!(csv.starts_with("id,probability,space,expected,output,rank,column,contribution\n"));
            assert!(csv.lines().count() > 40 && csv.lines().count() <= 1 + 40 * 4);
            let table = replay(&args[..args.len() - 2]);
            let table = text(&table.stdout);
            assert!(table.starts_with("contributions in log-odds"), "{table}");
            assert_eq!(table.matches("probability ").count(), 40);
        }
    }
}

#[test]
fn bad_input_gives_one_clear_error_line_and_a_failing_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let missing = dir.path().join("missing.parquet");
    let m = missing.to_str().unwrap();
    let not_parquet = dir.path().join("train.parquet");
    fs::write(&not_parquet, "id,popularity\n").unwrap();
    let n = not_parquet.to_str().unwrap();
    let cases: Vec<(Vec<&str>, i32, String)> = vec![
        (
            vec!["train", "--train", m, "--out", o],
            1,
            format!("error: {m}: No such file"),
        ),
        (
            vec!["train", "--train", n, "--out", o],
            1,
            format!("error: {n}: not a readable Parquet file"),
        ),
        (vec!["model", "inspect", m], 1, format!("error: {m}")),
        (
            vec!["train", "--out", o],
            2,
            "error: the following required arguments were not provided".into(),
        ),
        (vec!["fit"], 2, "error: unrecognized subcommand 'fit'".into()),
    ];
    for (args, code, first_line) in cases {
        let output = replay(&args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        let line = stderr.lines().next().unwrap_or_default();
        assert!(line.starts_with(&first_line), "{args:?}: {line}");
    }
    assert!(!out.join("models").exists(), "no half-written outputs");
}

#[test]
fn run_caches_every_stage_run_stage_reruns_one_and_clean_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    replay_synth::generate_file(&dir.path().join("tracks.csv"), 1500, 9).unwrap();
    // Run from the project directory, as a user would: no pipeline.toml there, so the
    // built-in Kaggle mapping, and artifacts/ in the current directory.
    let in_dir = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_replay"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let first = in_dir(&["run", "--input", "tracks.csv"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" ran ")).count(),
        5,
        "{stdout}"
    );
    assert!(stdout.contains("outputs: artifacts/latest"), "{stdout}");
    assert!(dir.path().join("artifacts/latest/metrics.json").is_file());
    let again = text(&in_dir(&["run", "--input", "tracks.csv"]).stdout);
    assert_eq!(
        again.lines().filter(|l| l.contains(" cached ")).count(),
        5,
        "{again}"
    );
    let stage = in_dir(&["run-stage", "train", "--input", "tracks.csv"]);
    let stage_out = text(&stage.stdout);
    assert!(stage.status.success(), "{}", text(&stage.stderr));
    assert!(
        stage_out
            .lines()
            .any(|l| l.starts_with("train") && l.contains(" ran ")),
        "{stage_out}"
    );
    let unknown = in_dir(&["run-stage", "predict"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).starts_with("error: unknown stage 'predict'"));
    let clean = in_dir(&["clean"]);
    assert!(clean.status.success());
    assert!(!dir.path().join("artifacts/cache").exists() && !dir.path().join("artifacts/latest").exists());
}

#[test]
fn init_writes_a_config_that_runs_and_never_overwrites_one_silently() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/kaggle_synthetic_20k.csv.gz");
    let config = dir.path().join("songs.toml");
    let (sample, config_arg) = (sample.to_str().unwrap(), config.to_str().unwrap());
    let out = replay(&["init", "--input", sample, "--out", config_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("popularity"), "{}", text(&out.stdout));
    let written = fs::read_to_string(&config).unwrap();
    assert!(written.contains("id = \"id\"") && written.contains("artists = \"target_list\""));
    // A second init refuses to replace it, and says how to.
    let again = replay(&["init", "--input", sample, "--out", config_arg]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("pass --force"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(fs::read_to_string(&config).unwrap(), written);
    // The config runs the pipeline as written.
    let artifacts = dir.path().join("artifacts");
    let run = replay(&[
        "run",
        "--config",
        config_arg,
        "--artifacts",
        artifacts.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(artifacts.join("latest/metrics.json").is_file());
}
