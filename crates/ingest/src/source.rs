//! Sources: their files, formats and headers, and the walk over their files.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use indicatif::ProgressBar;
use replay_core::ArtifactError;

use crate::emit::Emitter;
use crate::validate::{schema_of, targets, Layout, Target};
use crate::{csv_read, parquet_read};
use crate::{ColumnMap, IngestError, IngestOptions, IngestReport, Rejection, Source, TracksVisitor};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Format {
    Csv,
    CsvGz,
    Parquet,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::CsvGz => "csv.gz",
            Format::Parquet => "parquet",
        }
    }
}

/// Recognise the format by the file's first bytes: gzip magic, Parquet magic, else CSV.
pub(crate) fn detect(path: &Path) -> Result<Format, IngestError> {
    let mut magic = [0u8; 4];
    let mut file = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    let n = file.read(&mut magic).map_err(|e| ArtifactError::io(path, e))?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Format::CsvGz,
        b"PAR1" => Format::Parquet,
        _ => Format::Csv,
    })
}

/// Read every file of `source` in order into `visitor`; return the counts and the first
/// rejected row.
pub(crate) fn read(
    source: &Source,
    columns: &ColumnMap,
    options: &IngestOptions,
    progress: &ProgressBar,
    visitor: &mut dyn TracksVisitor,
) -> Result<(IngestReport, Option<Rejection>), IngestError> {
    source.check().map_err(IngestError::InvalidSource)?;
    columns.check().map_err(IngestError::InvalidSource)?;
    let files = source_files(&source.path)?;
    let format = common_format(&source.path, &files)?;
    let targets = targets(columns, options.require_popularity);
    let schema = schema_of(&targets);
    let report = IngestReport {
        source: source.path.display().to_string(),
        format: format.name().into(),
        columns: targets
            .iter()
            .filter(|t| t.is_output())
            .map(|t| t.output.clone())
            .collect(),
        dropped_columns: columns.drop.clone(),
        ..Default::default()
    };
    let mut emit = Emitter::new(visitor, SchemaRef::clone(&schema), options.batch_rows, report);
    let layout = Layout {
        source,
        several_files: files.len() > 1,
        columns,
        targets: &targets,
        schema: &schema,
    };
    for file in &files {
        match format {
            Format::Parquet => parquet_read::read(file, layout, options.batch_rows, &mut emit, progress)?,
            Format::Csv | Format::CsvGz => {
                csv_read::read(file, format == Format::CsvGz, layout, &mut emit, progress)?
            }
        }
    }
    progress.set_position(emit.report.rows_read);
    emit.finish()
}

/// The format of every file, which must be the same for all.
fn common_format(source: &Path, files: &[PathBuf]) -> Result<Format, IngestError> {
    let mut common = None;
    for file in files {
        let format = detect(file)?;
        match common {
            None => common = Some(format),
            Some(first) if first != format => {
                return Err(IngestError::MixedFormats {
                    path: file.clone(),
                    found: format.name(),
                    expected: first.name(),
                })
            }
            Some(_) => {}
        }
    }
    common.ok_or_else(|| IngestError::NoSourceFiles {
        path: source.to_path_buf(),
    })
}

/// The files of `source` in the order they are read: the file itself; the data files of a
/// directory (hidden and `_`-prefixed entries skipped); or the files matching a pattern
/// whose file name holds `*` or `?` (same skips). Sorted by path.
pub(crate) fn source_files(source: &Path) -> Result<Vec<PathBuf>, IngestError> {
    if source.is_dir() {
        return directory_files(source);
    }
    let pattern = source.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !source.exists() {
        if pattern.contains(['*', '?']) {
            return pattern_files(source, pattern);
        }
        let error = std::io::Error::new(std::io::ErrorKind::NotFound, "data source not found");
        return Err(ArtifactError::io(source, error).into());
    }
    Ok(vec![source.to_path_buf()])
}

/// Whether a directory entry is skipped: hidden files and `_SUCCESS`-like markers.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// The entries of `dir` whose names pass `keep`, sorted; directories among them are an
/// error; none is an error naming `source`.
fn list(dir: &Path, source: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>, IngestError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ArtifactError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ArtifactError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| !skipped(n) && keep(n)) else {
            continue;
        };
        let path = dir.join(name);
        if path.is_dir() {
            return Err(IngestError::NestedDirectory { path });
        }
        files.push(path);
    }
    if files.is_empty() {
        return Err(IngestError::NoSourceFiles {
            path: source.to_path_buf(),
        });
    }
    files.sort();
    Ok(files)
}

fn directory_files(dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    list(dir, dir, |_| true)
}

fn pattern_files(source: &Path, pattern: &str) -> Result<Vec<PathBuf>, IngestError> {
    let dir = match source.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if dir.to_string_lossy().contains(['*', '?']) {
        return Err(IngestError::BadPattern {
            path: source.to_path_buf(),
            message: "wildcards (* and ?) are supported in the file name only".into(),
        });
    }
    let pattern: Vec<char> = pattern.chars().collect();
    list(dir, source, |name| {
        wildcard_match(&pattern, &name.chars().collect::<Vec<_>>())
    })
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters and `?` any
/// one character.
fn wildcard_match(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    p = sp + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Find each target in the header. Columns the mapping does not name are an error, and so
/// are missing mapped columns (except an optional popularity) and repeated header names.
pub(crate) fn resolve(
    path: &Path,
    header: &[String],
    columns: &ColumnMap,
    targets: &[Target],
) -> Result<Vec<Option<usize>>, IngestError> {
    let mut index = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if index.insert(name.as_str(), i).is_some() {
            return Err(IngestError::DuplicateColumn {
                path: path.into(),
                column: name.clone(),
            });
        }
    }
    let named: HashSet<&str> = columns.named_columns().into_iter().map(|(c, _)| c).collect();
    let unmapped: Vec<&str> = header
        .iter()
        .map(String::as_str)
        .filter(|c| !named.contains(c))
        .collect();
    if !unmapped.is_empty() {
        let columns = unmapped
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(IngestError::UnmappedColumns {
            path: path.into(),
            columns,
        });
    }
    let roles: HashMap<&str, &'static str> = columns.named_columns().into_iter().collect();
    targets
        .iter()
        .map(|t| match index.get(t.source.as_str()) {
            Some(&i) => Ok(Some(i)),
            None if t.optional() => Ok(None),
            None => Err(IngestError::MissingColumn {
                path: path.into(),
                column: t.source.clone(),
                role: roles.get(t.source.as_str()).copied().unwrap_or("?"),
                available: header.join(", "),
            }),
        })
        .collect()
}

/// The column names of `source` (CSV, CSV.gz or Parquet; of its first file), as [`read`]
/// sees them.
pub(crate) fn read_header(source: &Source) -> Result<Vec<String>, IngestError> {
    source.check().map_err(IngestError::InvalidSource)?;
    let files = source_files(&source.path)?;
    let Some(path) = files.first() else {
        return Err(IngestError::NoSourceFiles {
            path: source.path.clone(),
        });
    };
    let path = path.as_path();
    match detect(path)? {
        Format::Parquet => {
            let schema = replay_parquet::schema(path)?;
            Ok(schema.fields().iter().map(|f| f.name().clone()).collect())
        }
        format => {
            let text = csv_read::open_text(path, format == Format::CsvGz, source)?;
            let mut reader = csv_read::csv_reader(text, true, csv_read::Bytes::of(source));
            csv_header(path, &mut reader, source)
        }
    }
}

/// A CSV reader as this crate configures it.
pub(crate) type CsvReader<R = Box<dyn Read + Send>> = csv::Reader<R>;

/// A CSV error of `path` as an [`IngestError`] with its line (after `skipped` lines).
fn csv_error(path: &Path, e: csv::Error, skipped: u64) -> IngestError {
    let line = e.position().map(|p| p.line()).unwrap_or(0) + skipped;
    match e.into_kind() {
        csv::ErrorKind::Io(source) => IngestError::Artifact(ArtifactError::io(path, source)),
        kind => IngestError::Csv {
            path: path.into(),
            line,
            message: format!("{kind:?}"),
        },
    }
}

/// The header of a CSV file written as `source` says: UTF-8 names, a leading byte-order
/// mark removed; an empty header is an error, and so is a header that the delimiter does
/// not split although another common delimiter would.
pub(crate) fn csv_header<R: Read>(
    path: &Path,
    reader: &mut CsvReader<R>,
    source: &Source,
) -> Result<Vec<String>, IngestError> {
    let skipped = source.skip_rows as u64;
    let line = skipped + 1;
    let header = reader
        .byte_headers()
        .map_err(|e| csv_error(path, e, skipped))?
        .clone();
    let header: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let name = std::str::from_utf8(field).map_err(|_| IngestError::Csv {
                path: path.into(),
                line,
                message: format!("header field {} is not valid UTF-8", i + 1),
            })?;
            Ok(name.trim_start_matches('\u{feff}').to_string())
        })
        .collect::<Result<_, IngestError>>()?;
    if header.iter().all(|h| h.is_empty()) {
        return Err(IngestError::Csv {
            path: path.into(),
            line,
            message: "empty header".into(),
        });
    }
    if let [only] = header.as_slice() {
        let other = [',', ';', '\t', '|']
            .into_iter()
            .find(|&c| c != source.delimiter && only.contains(c));
        if let Some(found) = other {
            return Err(IngestError::Delimiter {
                path: path.into(),
                line,
                delimiter: source.delimiter,
                found,
            });
        }
    }
    Ok(header)
}
