//! Run a library call on a Rust thread while the caller waits with the GIL released, and hear
//! Ctrl-C: every 100 ms the caller re-acquires the GIL to run Python's signal handlers
//! (`check_signals`); on KeyboardInterrupt it cancels the call's own token
//! (`logpivot::Cancel`, carried by its request), waits for the job to stop and clean up (spill
//! files, temp segments) and re-raises. Other calls running in the process at that moment, in
//! other threads, go on: there is no process-wide flag.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::errors::to_py;

/// How often the waiting caller checks for signals.
const SLICE: Duration = Duration::from_millis(100);

/// A call that ran this long may have freed hundreds of MB (a high-cardinality pivot's
/// tables): see whether to hand free memory back to the OS after it.
const TRIM_AFTER: Duration = Duration::from_millis(20);

/// Free memory the allocator may keep after a long call. Past it, all of it goes back to the
/// OS: a call that ran long enough to free hundreds of MB pays little for faulting its pages
/// in again, and a process that kept up to 256 MiB free (as the CLI does within one query)
/// started the next call that much higher: at 10M events a 256 MiB-limited pivot after an
/// unlimited one peaked at 520 MB, its own growth on top of what the first left.
const KEEP_FREE: usize = 16 << 20;

/// Give the allocator's free memory back to the OS when it holds more than [`KEEP_FREE`].
/// glibc keeps in its arenas what a call freed, so a notebook's process stayed at the peak of
/// its largest query (680 MB after a 10M-event high-cardinality pivot, 128 MB after a trim,
/// which took 36-58 ms). It runs on the call's thread after the result was handed over: the
/// caller does not wait for it.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallinfo2 and malloc_trim take no pointers; they read and trim the allocator's
    // own free lists.
    unsafe {
        if libc::mallinfo2().fordblks > KEEP_FREE {
            libc::malloc_trim(0);
        }
    }
}

/// The threads that run calls: one per call running at once, kept for the next calls
/// (starting a thread per call cost a short query about a tenth of its time).
fn callers() -> &'static logpivot::pool::Pool {
    static POOL: OnceLock<logpivot::pool::Pool> = OnceLock::new();
    POOL.get_or_init(|| logpivot::pool::Pool::growing("logpivot-call"))
}

/// Run `work` on a worker thread; call `tick` with the GIL held between waits (progress).
/// `cancel` is the token `work`'s request carries; a KeyboardInterrupt cancels it.
pub fn run<T, W, K>(py: Python<'_>, cancel: &logpivot::Cancel, work: W, mut tick: K) -> PyResult<T>
where
    T: Send,
    W: FnOnce() -> logpivot::Result<T> + Send,
    K: FnMut(Python<'_>) -> PyResult<()>,
{
    let (tx, rx) = crossbeam_channel::bounded(1);
    // The job takes the sender with the work: if the work panics, the sender is dropped on
    // the way out and the waiting caller sees the channel disconnected.
    let work = Mutex::new(Some((work, tx)));
    let job = |_: usize| {
        let taken = work.lock().ok().and_then(|mut w| w.take());
        if let Some((w, tx)) = taken {
            let started = std::time::Instant::now();
            let _ = tx.send(w());
            if started.elapsed() >= TRIM_AFTER {
                release_free_memory();
            }
        }
    };
    let wait = || -> PyResult<T> {
        loop {
            match py.detach(|| rx.recv_timeout(SLICE)) {
                Ok(result) => return result.map_err(to_py),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(PyRuntimeError::new_err(
                        "logpivot: the worker thread panicked",
                    ))
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let checked = py.check_signals().and_then(|()| tick(py));
            if let Err(e) = checked {
                cancel.cancel();
                // The job stops at its next check and cleans up; wait for it without the GIL.
                py.detach(|| {
                    let _ = rx.recv();
                });
                return Err(e);
            }
        }
    };
    // The caller waits (hearing Ctrl-C) while a pooled thread works; the scope returns once
    // the job has finished, and a panic in it is resumed here (pyo3 raises PanicException).
    callers().scope(1, &job, wait).map_err(to_py)?
}
