//! The real datasets beside the project, for tests (included by `#[path]` into the test
//! targets that need them, so every one finds and reports them the same way).

use std::io::Write;
use std::path::{Path, PathBuf};

/// `../shared/data/<name>` beside the workspace, if present. Under `CI` (set to anything
/// but `false` or empty) its absence fails the test; elsewhere the test is skipped, and
/// says so on the terminal (written past the test harness's output capture, so
/// `cargo test` shows it).
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    if path.is_file() {
        return Some(path);
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        !in_ci,
        "{} is required when CI is set (see README: real datasets)",
        path.display()
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {}: {} not found (see README: real datasets)",
        std::thread::current().name().unwrap_or("test"),
        path.display()
    );
    None
}
