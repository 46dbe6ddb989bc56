//! Hands validated rows and rejections to a [`TracksVisitor`] in source order, re-cut into
//! batches of `batch_rows` rows, and keeps the counts of the [`IngestReport`].

use std::collections::VecDeque;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;

use crate::{IngestError, IngestReport, Rejection, TracksVisitor};

/// The single place where kept rows and rejections of every reader end up.
pub(crate) struct Emitter<'v> {
    visitor: &'v mut dyn TracksVisitor,
    schema: SchemaRef,
    batch_rows: usize,
    pending: VecDeque<RecordBatch>,
    pending_rows: usize,
    /// Counts so far.
    pub report: IngestReport,
    /// The first rejected row, for the error when too many are rejected.
    pub first_rejection: Option<Rejection>,
}

impl<'v> Emitter<'v> {
    /// Emit to `visitor` batches of `schema` with `batch_rows` rows (the last one fewer).
    pub fn new(
        visitor: &'v mut dyn TracksVisitor,
        schema: SchemaRef,
        batch_rows: usize,
        report: IngestReport,
    ) -> Self {
        Emitter {
            visitor,
            schema,
            batch_rows: batch_rows.max(1),
            pending: VecDeque::new(),
            pending_rows: 0,
            report,
            first_rejection: None,
        }
    }

    /// Rows that were read and kept, in source order, in a batch of any size.
    pub fn kept(&mut self, batch: RecordBatch) -> Result<(), IngestError> {
        let rows = batch.num_rows();
        self.report.rows_read += rows as u64;
        self.report.rows_kept += rows as u64;
        if rows == 0 {
            return Ok(());
        }
        self.pending_rows += rows;
        self.pending.push_back(batch);
        while self.pending_rows >= self.batch_rows {
            let batch = self.take(self.batch_rows);
            self.visitor.batch(batch)?;
        }
        Ok(())
    }

    /// A row that was read and rejected.
    pub fn reject(&mut self, rejection: Rejection) -> Result<(), IngestError> {
        self.report.rows_read += 1;
        self.report.rows_rejected += 1;
        *self
            .report
            .rejected_by_reason
            .entry(rejection.reason)
            .or_default() += 1;
        if self.first_rejection.is_none() {
            self.first_rejection = Some(rejection.clone());
        }
        self.visitor.rejection(rejection)
    }

    /// Emit the last, partial batch; return the counts and the first rejection.
    pub fn finish(mut self) -> Result<(IngestReport, Option<Rejection>), IngestError> {
        if self.pending_rows > 0 {
            let batch = self.take(self.pending_rows);
            self.visitor.batch(batch)?;
        }
        Ok((self.report, self.first_rejection))
    }

    /// The first `rows` pending rows as one batch (`rows` <= pending rows).
    fn take(&mut self, rows: usize) -> RecordBatch {
        let mut parts = Vec::new();
        let mut needed = rows;
        while needed > 0 {
            let Some(front) = self.pending.pop_front() else {
                break;
            };
            let available = front.num_rows();
            if available <= needed {
                needed -= available;
                parts.push(front);
            } else {
                parts.push(front.slice(0, needed));
                self.pending.push_front(front.slice(needed, available - needed));
                needed = 0;
            }
        }
        self.pending_rows -= rows - needed;
        match parts.len() {
            1 => parts.swap_remove(0),
            _ => concat_batches(&self.schema, &parts)
                .unwrap_or_else(|e| unreachable!("all batches have the output schema: {e}")),
        }
    }
}
