//! Bring your own data: one trainable song table written the ways real exports write it
//! (delimiters, decimal commas, byte-order marks, Latin-1, thousands separators, quoted
//! fields with delimiters, quotes and newlines, "NA", no id, a title + artist id, a 0-1
//! popularity, typed Parquet with dictionary columns). For each, `replay init` writes the
//! config with no edit, the pipeline runs end to end, and every model's metrics equal
//! those of the plain comma-separated original: the same rows, split and features.

mod common;
#[path = "../../../testing/layouts.rs"]
mod layouts;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::Int32Type;
use layouts::{Cell, Layout, PLAIN};
use replay_pipeline::PipelineConfig;

/// Latin-1 artist names (every layout can encode them), 40 of them: a target encoding.
fn artists() -> Vec<String> {
    let names = [
        "Beyoncé",
        "Sigur Rós",
        "Mötley Crüe",
        "Björk",
        "Céline",
        "Zoë",
        "Åsa",
        "Jürgen",
        "François",
        "Renée",
    ];
    let groups = ["", " & Co", " Trio", " Señores"];
    groups
        .iter()
        .flat_map(|g| names.iter().map(move |n| format!("{n}{g}")))
        .collect()
}

const GENRES: [&str; 5] = ["pop", "rock", "rap", "latin", "edm"];
const WORDS: [&str; 10] = [
    "Halo", "Night", "Summer", "Blue", "Fire", "Heart", "Rain", "Gold", "Dream", "Road",
];
/// Title endings that need quoting in some layout: delimiters, quotes, a line end.
const ODD: [&str; 6] = [
    ", then go",
    "; later",
    " | live",
    "\tremix",
    " \"acoustic\"",
    "\nreprise",
];

/// A song of the table.
struct Song {
    id: String,
    title: String,
    artist: String,
    genre: &'static str,
    popularity: i64,
    year: i64,
    duration_ms: i64,
    energy: Option<f64>,
    danceability: f64,
}

/// SplitMix64: a fixed stream of numbers, so the table is the same in every run.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// 480 songs whose popularity follows the artist, energy, year and danceability, with
/// noise; titles repeat across artists but not within one, a few energies are missing.
fn songs() -> Vec<Song> {
    let artists = artists();
    let mut numbers = Numbers(20_260_511);
    let quality: Vec<f64> = artists.iter().map(|_| numbers.unit() * 2.0 - 1.0).collect();
    let mut seen = HashSet::new();
    let mut songs = Vec::new();
    while songs.len() < 480 {
        let a = numbers.below(artists.len());
        let mut title = format!("{} {}", WORDS[numbers.below(10)], WORDS[numbers.below(10)]);
        if numbers.below(7) == 0 {
            title.push_str(ODD[numbers.below(ODD.len())]);
        }
        if !seen.insert((title.clone(), a)) {
            continue;
        }
        let energy = (numbers.unit() * 1000.0).round() / 1000.0;
        let danceability = (numbers.unit() * 100.0).round() / 100.0;
        let year = 1965 + numbers.below(56) as i64;
        let noise = numbers.unit() * 40.0 - 20.0;
        let score = 50.0
            + 25.0 * quality[a]
            + 20.0 * (energy - 0.5)
            + 0.4 * (year - 1992) as f64
            + 10.0 * (danceability - 0.5)
            + noise;
        songs.push(Song {
            id: format!("t{:04}", songs.len()),
            title,
            artist: artists[a].clone(),
            genre: GENRES[numbers.below(GENRES.len())],
            popularity: score.round().clamp(0.0, 100.0) as i64,
            year,
            duration_ms: 120_000 + numbers.below(280_000) as i64,
            energy: (numbers.below(12) != 0).then_some(energy),
            danceability,
        });
    }
    songs
}

/// Which columns a case keeps, and how it writes the popularity.
#[derive(Clone, Copy)]
struct Shape {
    id: bool,
    title: bool,
    share: bool,
}

const FULL: Shape = Shape {
    id: true,
    title: true,
    share: false,
};

fn header(shape: Shape) -> Vec<&'static str> {
    let mut header = Vec::new();
    if shape.id {
        header.push("track_id");
    }
    if shape.title {
        header.push("title");
    }
    header.extend([
        "artist",
        "genre",
        "popularity",
        "year",
        "duration_ms",
        "energy",
        "danceability",
    ]);
    header
}

fn cells(song: &Song, shape: Shape) -> Vec<Cell> {
    let mut row = Vec::new();
    if shape.id {
        row.push(Cell::Text(song.id.clone()));
    }
    if shape.title {
        row.push(Cell::Text(song.title.clone()));
    }
    row.extend([
        Cell::Text(song.artist.clone()),
        Cell::Text(song.genre.to_string()),
        if shape.share {
            Cell::Number(Some(song.popularity as f64 / 100.0))
        } else {
            Cell::Integer(song.popularity)
        },
        Cell::Integer(song.year),
        Cell::Count(song.duration_ms),
        Cell::Number(song.energy),
        Cell::Number(Some(song.danceability)),
    ]);
    row
}

fn write_csv(dir: &Path, layout: &Layout, shape: Shape, songs: &[Song]) -> PathBuf {
    let rows: Vec<Vec<Cell>> = songs.iter().map(|s| cells(s, shape)).collect();
    layouts::write(dir, layout, &header(shape), &rows)
}

/// The table as a data warehouse exports it: integer columns, dictionary-encoded text
/// columns (as Arrow dictionaries, and Parquet's default dictionary pages).
fn write_parquet(dir: &Path, songs: &[Song]) -> PathBuf {
    let text = |f: &dyn Fn(&Song) -> String| -> ArrayRef {
        Arc::new(songs.iter().map(|s| Some(f(s))).collect::<StringArray>())
    };
    let dictionary = |f: &dyn Fn(&Song) -> String| -> ArrayRef {
        Arc::new(
            songs
                .iter()
                .map(f)
                .collect::<Vec<String>>()
                .iter()
                .map(|v| Some(v.as_str()))
                .collect::<DictionaryArray<Int32Type>>(),
        )
    };
    let batch = RecordBatch::try_from_iter([
        ("track_id", text(&|s| s.id.clone())),
        ("title", text(&|s| s.title.clone())),
        ("artist", dictionary(&|s| s.artist.clone())),
        ("genre", dictionary(&|s| s.genre.to_string())),
        (
            "popularity",
            Arc::new(songs.iter().map(|s| s.popularity).collect::<Int64Array>()) as ArrayRef,
        ),
        (
            "year",
            Arc::new(songs.iter().map(|s| s.year as i32).collect::<Int32Array>()),
        ),
        (
            "duration_ms",
            Arc::new(songs.iter().map(|s| s.duration_ms).collect::<Int64Array>()),
        ),
        (
            "energy",
            Arc::new(songs.iter().map(|s| s.energy).collect::<Float64Array>()),
        ),
        (
            "danceability",
            Arc::new(songs.iter().map(|s| s.danceability).collect::<Float64Array>()),
        ),
    ])
    .unwrap();
    let path = dir.join("warehouse.parquet");
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path
}

/// `replay init` on `source`, then the whole pipeline; the run's metrics.json.
fn init_and_run(source: &Path, dir: &Path, name: &str) -> (PipelineConfig, serde_json::Value) {
    let config_path = dir.join(format!("{name}.toml"));
    replay_pipeline::init::run(source, &config_path, false).unwrap_or_else(|e| panic!("{name}: {e}"));
    let config = PipelineConfig::load(&config_path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let artifacts = dir.join(format!("artifacts-{name}"));
    common::run(&config, &artifacts);
    let metrics = std::fs::read_to_string(artifacts.join("latest/metrics.json")).unwrap();
    (config, serde_json::from_str(&metrics).unwrap())
}

#[test]
fn init_on_every_layout_trains_the_plain_files_models() {
    let dir = tempfile::tempdir().unwrap();
    let songs = songs();
    let (plain_config, want) =
        init_and_run(&write_csv(dir.path(), &PLAIN, FULL, &songs), dir.path(), "plain");
    let columns = &plain_config.columns;
    assert_eq!(columns.id.0, ["track_id"]);
    assert_eq!(columns.drop, ["title"]);
    let auc = |m: &serde_json::Value| -> Vec<f64> {
        let models = m["models"].as_object().unwrap();
        models.values().map(|v| v["roc_auc"].as_f64().unwrap()).collect()
    };
    assert_eq!(auc(&want).len(), 4);
    assert!(
        auc(&want).iter().all(|&a| a > 0.7),
        "the table is learnable: {:?}",
        auc(&want)
    );

    let mut cases: Vec<(String, PathBuf)> = layouts::variants()
        .iter()
        .map(|layout| {
            (
                layout.name.to_string(),
                write_csv(dir.path(), layout, FULL, &songs),
            )
        })
        .collect();
    let shapes = [
        (
            "no_id",
            Shape {
                id: false,
                title: false,
                ..FULL
            },
        ),
        ("title_and_artist_id", Shape { id: false, ..FULL }),
        ("popularity_share", Shape { share: true, ..FULL }),
    ];
    for (name, shape) in shapes {
        let layout = Layout { name, ..PLAIN };
        cases.push((name.to_string(), write_csv(dir.path(), &layout, shape, &songs)));
    }
    cases.push(("parquet".to_string(), write_parquet(dir.path(), &songs)));
    assert!(cases.len() >= 12);

    for (name, source) in &cases {
        let (config, got) = init_and_run(source, dir.path(), name);
        assert_eq!(
            got["models"],
            want["models"],
            "{name}: ROC-AUC {:?}, plain {:?}\n{config:#?}",
            auc(&got),
            auc(&want)
        );
        let expected_id: &[&str] = match name.as_str() {
            "no_id" => &[],
            "title_and_artist_id" => &["title", "artist"],
            _ => &["track_id"],
        };
        assert_eq!(config.columns.id.0, expected_id, "{name}");
        let scale = if name == "popularity_share" { 1.0 } else { 100.0 };
        assert_eq!(config.label.scale, scale, "{name}");
    }
}
