//! Pieces every stage of the replay pipeline shares: the names of the columns stages
//! hand to each other ([`schema`]), the checks of config values ([`config`]), atomic
//! artifact writes ([`atomic`]), and JSON reading and writing with errors that name the
//! file ([`io`]). It needs neither Arrow nor Parquet (those artifacts are the
//! `replay-parquet` crate's), so the model and metric crates build without them.

#![warn(missing_docs)]

pub mod atomic;
pub mod config;
pub mod io;
pub mod lock;
pub mod schema;

pub use io::ArtifactError;

/// An error and its causes as one line, leaving out a cause whose text the message
/// already holds (typed errors here print their cause inline).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}
