//! Helper threads that stay awake between the short parallel steps of growing a tree.
//!
//! Growing one boosting tree alternates sequential steps (partitioning a node, searching
//! its split) with histogram builds that take tens of microseconds. Rayon's idle workers
//! go to sleep within microseconds and take longer to wake than such a step lasts: on a
//! 2-core machine, a parallel section of two 50 µs tasks entered after a 50 µs pause took
//! 110 µs, as if run one after the other. A [`Team`] keeps its helpers spinning between
//! steps (then yielding, then parked once idle for long), so a step is handed over in
//! about a microsecond.
//!
//! A team is scoped to one call ([`with_team`]); its helpers run one fixed work function
//! on owned jobs, so no borrowed data crosses threads beyond what outlives the scope.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long an idle helper spins before it starts yielding its core.
const SPIN: Duration = Duration::from_micros(100);
/// How long an idle helper yields before it parks until the next job.
const YIELD: Duration = Duration::from_millis(5);

const IDLE: u8 = 0;
const WORKING: u8 = 1;
const DONE: u8 = 2;
const STOP: u8 = 3;

/// What one helper is doing, and its job or result.
struct Slot<J, R> {
    state: AtomicU8,
    job: Mutex<Option<J>>,
    result: Mutex<Option<thread::Result<R>>>,
}

/// Helpers running a fixed work function on jobs of type `J`, giving results of type `R`.
pub(crate) struct Team<'a, J, R> {
    slots: &'a [Slot<J, R>],
    threads: Vec<Thread>,
}

thread_local! {
    /// Whether teams started on this thread get no helpers ([`without_helpers`]).
    static NO_HELPERS: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with every team it starts on this thread given no helpers, so that what it
/// fits keeps to this one thread (while other work fills the other cores). Results do not
/// depend on the number of helpers.
#[cfg(feature = "stage")]
pub fn without_helpers<T>(f: impl FnOnce() -> T) -> T {
    /// Restores the flag however `f` ends.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            NO_HELPERS.set(self.0);
        }
    }
    let _restore = Restore(NO_HELPERS.replace(true));
    f()
}

/// Run `body` with a team of up to `helpers` threads that each run `work` on the jobs
/// handed to them (fewer if the system refuses to start more threads, none inside
/// [`without_helpers`]). With no helpers, [`Team::run`] runs everything on the calling
/// thread.
pub(crate) fn with_team<J: Send, R: Send, T>(
    helpers: usize,
    work: impl Fn(J) -> R + Sync,
    body: impl FnOnce(&Team<'_, J, R>) -> T,
) -> T {
    let helpers = if NO_HELPERS.get() { 0 } else { helpers };
    let slots: Vec<Slot<J, R>> = (0..helpers)
        .map(|_| Slot {
            state: AtomicU8::new(IDLE),
            job: Mutex::new(None),
            result: Mutex::new(None),
        })
        .collect();
    let work = &work;
    thread::scope(|s| {
        let mut threads = Vec::with_capacity(helpers);
        for slot in &slots {
            match thread::Builder::new().spawn_scoped(s, move || serve(slot, work)) {
                Ok(handle) => threads.push(handle.thread().clone()),
                // Results do not depend on the number of helpers: go on with fewer.
                Err(_) => break,
            }
        }
        let team = Team {
            slots: &slots[..threads.len()],
            threads,
        };
        // Stops the helpers however `body` ends, so the scope can join them.
        let _stop = StopOnDrop(&team);
        body(&team)
    })
}

struct StopOnDrop<'t, 'a, J, R>(&'t Team<'a, J, R>);

impl<J, R> Drop for StopOnDrop<'_, '_, J, R> {
    fn drop(&mut self) {
        for (slot, t) in self.0.slots.iter().zip(&self.0.threads) {
            slot.state.store(STOP, Ordering::Release);
            t.unpark();
        }
    }
}

/// A helper's loop: wait for a job, run it, publish the result.
fn serve<J, R>(slot: &Slot<J, R>, work: &(impl Fn(J) -> R + Sync)) {
    let mut idle_since = Instant::now();
    loop {
        match slot.state.load(Ordering::Acquire) {
            WORKING => {
                let job = lock(&slot.job).take();
                if let Some(job) = job {
                    let result = panic::catch_unwind(AssertUnwindSafe(|| work(job)));
                    *lock(&slot.result) = Some(result);
                }
                // Told to stop meanwhile (the caller is unwinding): nobody waits for it.
                if slot
                    .state
                    .compare_exchange(WORKING, DONE, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    return;
                }
                idle_since = Instant::now();
            }
            STOP => return,
            _ if idle_since.elapsed() < YIELD => wait_a_little(idle_since),
            // Woken by the next job (or spuriously: the state is checked again).
            _ => thread::park(),
        }
    }
}

impl<J, R> Team<'_, J, R> {
    /// Number of helper threads (besides the caller).
    pub fn helpers(&self) -> usize {
        self.slots.len()
    }

    /// Hand `jobs` (at most [`Team::helpers`]) to the helpers, run `mine` on this thread
    /// meanwhile, and return its value with the jobs' results in job order. Every job is
    /// waited for before a panic (in `mine` or in a job) is resumed here, so the team is
    /// left idle and usable.
    pub fn run<M>(&self, jobs: Vec<J>, mine: impl FnOnce() -> M) -> (M, Vec<R>) {
        assert!(jobs.len() <= self.slots.len(), "more jobs than helpers");
        let n = jobs.len();
        for ((slot, t), job) in self.slots.iter().zip(&self.threads).zip(jobs) {
            *lock(&slot.job) = Some(job);
            slot.state.store(WORKING, Ordering::Release);
            t.unpark();
        }
        let mine = panic::catch_unwind(AssertUnwindSafe(mine));
        let mut results = Vec::with_capacity(n);
        let mut failure = None;
        for slot in &self.slots[..n] {
            let started = Instant::now();
            while slot.state.load(Ordering::Acquire) != DONE {
                wait_a_little(started);
            }
            let result = lock(&slot.result).take();
            slot.state.store(IDLE, Ordering::Release);
            match result {
                Some(Ok(r)) => results.push(r),
                Some(Err(payload)) => failure = failure.or(Some(payload)),
                None => unreachable!("a helper finished without a result"),
            }
        }
        match (mine, failure) {
            (Err(payload), _) | (Ok(_), Some(payload)) => panic::resume_unwind(payload),
            (Ok(mine), None) => (mine, results),
        }
    }
}

/// One step of waiting that began at `since`: spin for the first [`SPIN`], then give the
/// core to other threads.
fn wait_a_little(since: Instant) {
    if since.elapsed() < SPIN {
        std::hint::spin_loop();
    } else {
        thread::yield_now();
    }
}

/// Lock a mutex whose data stays valid even if a holder panicked (every critical section
/// here is a single move).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_job_order_with_the_callers_value() {
        with_team(
            3,
            |x: u64| x * x,
            |team| {
                assert_eq!(team.helpers(), 3);
                for round in 0..200u64 {
                    let (mine, theirs) = team.run(vec![round, round + 1, round + 2], || round + 100);
                    assert_eq!(mine, round + 100);
                    assert_eq!(
                        theirs,
                        vec![round * round, (round + 1).pow(2), (round + 2).pow(2)]
                    );
                }
                // Fewer jobs than helpers, and a pause long enough for the helpers to park.
                thread::sleep(YIELD + Duration::from_millis(5));
                assert_eq!(team.run(vec![7], || ()).1, vec![49]);
            },
        );
    }

    #[test]
    fn without_helpers_the_caller_does_everything() {
        let out = with_team(0, |x: u32| x, |team| team.run(Vec::new(), || 5));
        assert_eq!(out, (5, Vec::new()));
    }

    #[test]
    fn a_panicking_job_panics_the_caller_and_the_team_still_stops() {
        let caught = panic::catch_unwind(|| {
            with_team(
                1,
                |x: u32| if x == 1 { panic!("job failed") } else { x },
                |team| team.run(vec![1], || ()),
            )
        });
        assert!(caught.is_err());
    }

    #[test]
    fn after_a_caught_panic_the_team_gives_the_right_results() {
        with_team(
            2,
            |x: u32| x + 1,
            |team| {
                // This thread's share panics while both helpers still work.
                let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                    team.run(vec![1, 2], || panic!("caller failed"))
                }));
                assert!(caught.is_err());
                assert_eq!(team.run(vec![10, 20], || ()).1, vec![11, 21]);
            },
        );
    }
}
