//! Hashes the source of every crate a stage runs, so that a stage's cache key changes
//! whenever its code does (exported as `REPLAY_SRC_<CRATE>` environment variables).

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_below(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for name in [
        "core", "parquet", "ingest", "features", "models", "eval", "pipeline",
    ] {
        let src = crates.join(name).join("src");
        println!("cargo:rerun-if-changed={}", src.display());
        let mut files = Vec::new();
        files_below(&src, &mut files);
        files.sort();
        let mut hasher = DefaultHasher::new();
        for file in files {
            hasher.write(
                file.strip_prefix(&src)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .as_bytes(),
            );
            hasher.write(&fs::read(&file).unwrap_or_default());
        }
        println!(
            "cargo:rustc-env=REPLAY_SRC_{}={:016x}",
            name.to_uppercase(),
            hasher.finish()
        );
    }
}
