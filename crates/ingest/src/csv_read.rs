//! CSV and CSV.gz sources: a reader thread reads (and decompresses) the file and cuts it
//! into blocks of whole records ([`crate::blocks`]); rayon tasks parse and validate the
//! blocks in parallel ([`map_in_order`]); the calling thread hands their results to the
//! [`Emitter`] in file order, fixing up line numbers. A bounded number of blocks is in
//! flight at any time.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use csv::{ByteRecord, Position};
use indicatif::ProgressBar;
use replay_core::ArtifactError;

use crate::dialect::ValueFormat;
use crate::emit::Emitter;
use crate::ordered::map_in_order;
use crate::source::{csv_header, resolve, CsvReader};
use crate::validate::{line_prefix, Cell, Layout, RowBuilder, Target};
use crate::{blocks, encoding, IngestError, RejectReason, Rejection, Source};

/// Bytes per block handed to a parsing task.
pub(crate) const BLOCK_BYTES: usize = 4 << 20;
/// Blocks read ahead of the parsing tasks.
const READ_AHEAD: usize = 2;

/// What every parsing task needs: the output columns and where they are in a record.
pub(crate) struct RecordPlan {
    file: String,
    header: Vec<String>,
    targets: Vec<Target>,
    schema: SchemaRef,
    /// How text fields write numbers and missing values.
    values: ValueFormat,
    /// Delimiter and quote.
    bytes: Bytes,
    /// What a line id starts with.
    line_prefix: String,
    /// For each target, its field index in a record (`None`: absent, optional column).
    indices: Vec<Option<usize>>,
}

/// A block of whole records and the number of lines before it in its file.
pub(crate) struct Block {
    bytes: Vec<u8>,
    lines_before: u64,
}

/// One parsed block: kept rows, rejections and the first CSV error, with their lines.
pub(crate) struct BlockOutput {
    batch: RecordBatch,
    rejections: Vec<Rejection>,
    /// The first CSV error (line, message); parsing stopped there.
    error: Option<(u64, String)>,
}

/// Read the CSV file `path` (gzip-compressed if `gzip`) into `emit`.
pub(crate) fn read(
    path: &Path,
    gzip: bool,
    layout: Layout<'_>,
    emit: &mut Emitter<'_>,
    progress: &ProgressBar,
) -> Result<(), IngestError> {
    read_in_blocks(path, gzip, BLOCK_BYTES, layout, emit, progress)
}

/// [`read`] with blocks of about `block_bytes` bytes.
pub(crate) fn read_in_blocks(
    path: &Path,
    gzip: bool,
    block_bytes: usize,
    layout: Layout<'_>,
    emit: &mut Emitter<'_>,
    progress: &ProgressBar,
) -> Result<(), IngestError> {
    let mut input = open_text(path, gzip, layout.source)?;
    let bytes = Bytes::of(layout.source);
    let skipped = layout.source.skip_rows as u64;
    std::thread::scope(|scope| {
        let (sender, blocks) = sync_channel::<std::io::Result<Block>>(READ_AHEAD);
        std::thread::Builder::new()
            .name("replay-ingest-reader".into())
            .spawn_scoped(scope, move || {
                // Lines before each block, so that its records know their lines.
                let mut lines = skipped;
                let send = &mut |bytes: Vec<u8>| {
                    let lines_before = lines;
                    lines += memchr::memchr_iter(b'\n', &bytes).count() as u64;
                    sender.send(Ok(Block { bytes, lines_before })).is_ok()
                };
                if let Err(e) = blocks::split(&mut input, block_bytes, bytes, send) {
                    let _ = sender.send(Err(e));
                }
            })
            .map_err(|e| ArtifactError::io(path, e))?;
        let make_plan = |first: &[u8]| plan(path, first, layout);
        consume(path, blocks, make_plan, emit, progress)
    })
}

/// The CSV file `path` (gzip-compressed if `gzip`) as UTF-8 text, after the lines
/// `source.skip_rows` skips.
pub(crate) fn open_text(
    path: &Path,
    gzip: bool,
    source: &Source,
) -> Result<Box<dyn Read + Send>, IngestError> {
    let file = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    let raw: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    };
    let mut text = BufReader::with_capacity(1 << 16, encoding::to_utf8(raw, source.encoding));
    encoding::skip_lines(&mut text, source.skip_rows).map_err(|e| ArtifactError::io(path, e))?;
    Ok(Box::new(text))
}

/// Parse the header in the first block and find every target in it.
fn plan(path: &Path, first: &[u8], layout: Layout<'_>) -> Result<RecordPlan, IngestError> {
    let bytes = Bytes::of(layout.source);
    let mut reader: CsvReader<&[u8]> = csv_reader(first, true, bytes);
    let header = csv_header(path, &mut reader, layout.source)?;
    let indices = resolve(path, &header, layout.columns, layout.targets)?;
    Ok(RecordPlan {
        file: path.display().to_string(),
        header,
        targets: layout.targets.to_vec(),
        schema: SchemaRef::clone(layout.schema),
        values: layout.source.values(),
        line_prefix: line_prefix(path, &layout),
        bytes,
        indices,
    })
}

/// The delimiter and quote of a source as bytes (both ASCII by [`Source::check`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bytes {
    pub delimiter: u8,
    pub quote: u8,
}

impl Bytes {
    pub fn of(source: &Source) -> Self {
        let byte = |c: char| u8::try_from(c).unwrap_or(b'?');
        Bytes {
            delimiter: byte(source.delimiter),
            quote: byte(source.quote),
        }
    }
}

/// A CSV reader over one block, configured like every reader of this crate.
pub(crate) fn csv_reader<R: Read>(input: R, has_headers: bool, bytes: Bytes) -> CsvReader<R> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(has_headers)
        .delimiter(bytes.delimiter)
        .quote(bytes.quote)
        .from_reader(input)
}

/// Receive blocks, parse them on rayon, and emit their results in order.
fn consume(
    path: &Path,
    blocks: Receiver<std::io::Result<Block>>,
    make_plan: impl FnOnce(&[u8]) -> Result<RecordPlan, IngestError>,
    emit: &mut Emitter<'_>,
    progress: &ProgressBar,
) -> Result<(), IngestError> {
    let next = || match blocks.recv() {
        Ok(block) => Some(block.map_err(|e| IngestError::from(ArtifactError::io(path, e)))),
        Err(_) => None,
    };
    let Some(first) = next().transpose()? else {
        // An empty file: its missing header is the error.
        make_plan(&[])?;
        return Ok(());
    };
    let plan = Arc::new(make_plan(&first.bytes)?);
    let inputs = std::iter::once(Ok(first)).chain(std::iter::from_fn(next));
    let parse = move |index, block: Block| parse_block(&plan, &block.bytes, index == 0, block.lines_before);
    map_in_order(inputs, parse, |output| {
        for rejection in output.rejections {
            emit.reject(rejection)?;
        }
        emit.kept(output.batch)?;
        progress.set_position(emit.report.rows_read);
        match output.error {
            Some((line, message)) => Err(IngestError::Csv {
                path: path.into(),
                line,
                message,
            }),
            None => Ok(()),
        }
    })
}

/// Parse and validate the records of one block (`first`: the file's first block, which
/// starts with the header), which `lines_before` lines of its file precede.
pub(crate) fn parse_block(plan: &RecordPlan, block: &[u8], first: bool, lines_before: u64) -> BlockOutput {
    let mut reader = csv_reader(block, first, plan.bytes);
    let schema = SchemaRef::clone(&plan.schema);
    let prefix = plan.line_prefix.clone();
    let mut rows = RowBuilder::new(&plan.targets, schema, plan.values.clone(), prefix, 1024);
    let mut rejections = Vec::new();
    let mut error = None;
    let mut record = ByteRecord::new();
    let header_read = if first {
        reader.byte_headers().map(|_| ())
    } else {
        Ok(())
    };
    let mut result = header_read.and_then(|()| reader.read_byte_record(&mut record));
    loop {
        match result {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| record_line(block, p)).unwrap_or(0);
                error = Some((line + lines_before, format!("{:?}", e.into_kind())));
                break;
            }
        }
        let line = record.position().map(|p| record_line(block, p)).unwrap_or(0) + lines_before;
        if let Some(rejection) = plan.push_record(&record, line, &mut rows) {
            rejections.push(rejection);
        }
        result = reader.read_byte_record(&mut record);
    }
    BlockOutput {
        batch: rows.finish(),
        rejections,
        error,
    }
}

/// The line where a record starts. The `csv` crate reports where the reader stood before
/// the record: before the `\n` of a preceding `\r\n` and before skipped blank lines; the
/// record itself starts after them.
pub(crate) fn record_line(bytes: &[u8], position: &Position) -> u64 {
    let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
    let skipped = bytes
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .filter(|&&b| b == b'\n')
        .count();
    position.line() + skipped as u64
}

impl RecordPlan {
    /// Validate one record (starting on `line`) into `rows`, or return why it is rejected.
    pub(crate) fn push_record(
        &self,
        record: &ByteRecord,
        line: u64,
        rows: &mut RowBuilder,
    ) -> Option<Rejection> {
        let reject = |column: &str, reason, detail| {
            Some(Rejection {
                line,
                column: column.into(),
                reason,
                detail,
                file: self.file.clone(),
            })
        };
        if record.len() != self.header.len() {
            let detail = format!(
                "expected {} fields as in the header, found {}",
                self.header.len(),
                record.len()
            );
            return reject("", RejectReason::FieldCount, detail);
        }
        let whole = std::str::from_utf8(record.as_slice()).ok();
        let mut cells = Vec::with_capacity(self.indices.len());
        for index in &self.indices {
            cells.push(match index {
                None => Cell::Null,
                Some(i) => match field_text(record, whole, *i) {
                    Some(text) => Cell::Text(text),
                    None => {
                        let detail = "field is not valid UTF-8".to_string();
                        return reject(&self.header[*i], RejectReason::InvalidUtf8, detail);
                    }
                },
            });
        }
        match rows.push_row(&self.targets, &cells, line) {
            Ok(()) => None,
            Err((target, reason, detail)) => reject(&self.targets[target].source, reason, detail),
        }
    }
}

/// Field `i` of `record` as text, if it is valid UTF-8. `whole` is the record's bytes as
/// text when they all are valid (one check for the usual case; a field is then taken from
/// it if it starts and ends on character boundaries).
fn field_text<'r>(record: &'r ByteRecord, whole: Option<&'r str>, i: usize) -> Option<&'r str> {
    whole
        .zip(record.range(i))
        .and_then(|(text, range)| text.get(range))
        .or_else(|| record.get(i).and_then(|field| std::str::from_utf8(field).ok()))
}

#[cfg(test)]
mod tests;
