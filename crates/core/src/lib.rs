//! Pieces every stage of the replay pipeline shares: the names of the columns stages
//! hand to each other ([`schema`]), the checks of config values ([`config`]), atomic
//! artifact writes ([`atomic`]), and JSON reading and writing with errors that name the
//! file ([`io`]). It needs neither Arrow nor Parquet (those artifacts are the
//! `replay-parquet` crate's), so the model and metric crates build without them.

#![warn(missing_docs)]

pub mod atomic;
pub mod config;
pub mod io;
pub mod schema;

pub use io::ArtifactError;
