//! Pieces every stage of the replay pipeline shares: the names of the columns stages
//! hand to each other ([`schema`]), atomic artifact writes ([`atomic`]) and Parquet/JSON
//! reading and writing with errors that name the file ([`io`]).

#![warn(missing_docs)]

pub mod atomic;
pub mod config;
pub mod io;
pub mod schema;

pub use io::ArtifactError;
