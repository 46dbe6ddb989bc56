//! Work items processed on rayon in parallel, their results handed on in input order, with
//! a bounded number of items in flight (so memory does not grow with the input).

use std::collections::BTreeMap;
use std::sync::mpsc::channel;
use std::sync::Arc;

use crate::IngestError;

/// Run `work` (given each input's index) on every input, on rayon tasks, and pass the
/// results to `output` in input order. At most one more input than rayon has threads is
/// taken ahead of `output`. The first error of `inputs` or `output` stops everything.
/// Called from a rayon thread, runs the work inline (blocking a pool thread on results
/// could otherwise starve the pool).
pub(crate) fn map_in_order<T, R>(
    inputs: impl Iterator<Item = Result<T, IngestError>>,
    work: impl Fn(usize, T) -> R + Send + Sync + 'static,
    mut output: impl FnMut(R) -> Result<(), IngestError>,
) -> Result<(), IngestError>
where
    T: Send + 'static,
    R: Send + 'static,
{
    let work = Arc::new(work);
    let inline = rayon::current_thread_index().is_some();
    let max_in_flight = rayon::current_num_threads() + 1;
    let (done, results) = channel::<(usize, R)>();
    let mut inputs = inputs.fuse();
    let mut waiting = BTreeMap::new();
    let (mut launched, mut emitted) = (0usize, 0usize);
    loop {
        while launched - emitted < max_in_flight {
            let Some(input) = inputs.next().transpose()? else {
                break;
            };
            let (work, done, index) = (Arc::clone(&work), done.clone(), launched);
            let task = move || {
                let _ = done.send((index, work(index, input)));
            };
            if inline {
                task();
            } else {
                rayon::spawn(task);
            }
            launched += 1;
        }
        if launched == emitted {
            return Ok(());
        }
        let Ok((index, result)) = results.recv() else {
            return Ok(());
        };
        waiting.insert(index, result);
        while let Some(result) = waiting.remove(&emitted) {
            output(result)?;
            emitted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_input_order() {
        let inputs = (0..200u64).map(Ok);
        let mut seen = Vec::new();
        let work = |index: usize, x: u64| {
            // Later items finish first now and then.
            std::thread::sleep(std::time::Duration::from_micros((200 - x) % 7 * 50));
            (index, x * 2)
        };
        map_in_order(inputs, work, |r| {
            seen.push(r);
            Ok(())
        })
        .unwrap();
        let expected: Vec<(usize, u64)> = (0..200).map(|i| (i as usize, i * 2)).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn an_output_error_stops_the_work() {
        let inputs = (0..1000u64).map(Ok);
        let mut calls = 0;
        let err = map_in_order(
            inputs,
            |_, x| x,
            |_| {
                calls += 1;
                Err(IngestError::NoRows { path: "stop".into() })
            },
        )
        .unwrap_err();
        assert!(matches!(err, IngestError::NoRows { .. }));
        assert_eq!(calls, 1);
    }
}
