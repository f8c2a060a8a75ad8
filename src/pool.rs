//! Persistent worker threads that run borrowed work: a query hands its segments to threads
//! that live as long as the process instead of starting threads per query.
//!
//! On a handle kept open across queries (the Python module's `Store`) a short query paid as
//! much for its threads as for its scan: the clone, the first touch of a new stack, the first
//! zstd context of each new thread, and the stack's release at exit. [`Pool::scope`] runs a
//! job `n` times on the pool's threads while the calling thread runs `body` (typically,
//! consuming what the jobs send it), and returns when every job has finished, so the jobs may
//! borrow from the caller's stack as `std::thread::scope`'s do.
//!
//! Idle workers block on a channel; they do not spin (rayon's workers yield in a loop for a
//! while after each job, which on two cores took a quarter of the CPU of a short query).
//!
//! Contract: a job must not call [`Pool::scope`] on the pool it runs on and wait for it (its
//! own jobs could then wait for a worker that never frees). The query layer's jobs scan a
//! segment and send what they find; the consumer runs on the calling thread.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A set of worker threads fed by one queue.
pub struct Pool {
    name: String,
    tx: crossbeam_channel::Sender<Job>,
    rx: crossbeam_channel::Receiver<Job>,
    /// `Some(idle workers)` for a pool that starts a worker whenever a job finds none idle;
    /// `None` for a pool of a fixed number of workers (jobs queue).
    grow: Option<Arc<Mutex<usize>>>,
}

/// Jobs of one scope still running, and the first panic among them.
#[derive(Default)]
struct Latch {
    state: Mutex<(usize, Option<Box<dyn Any + Send>>)>,
    done: Condvar,
}

impl Latch {
    fn start(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 += 1;
    }

    fn finish(&self, panic: Option<Box<dyn Any + Send>>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 = s.0.saturating_sub(1);
        if s.1.is_none() {
            s.1 = panic;
        }
        if s.0 == 0 {
            self.done.notify_all();
        }
    }

    /// Wait until no job runs; the first panic, taken when `take`.
    fn wait(&self, take: bool) -> Option<Box<dyn Any + Send>> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while s.0 > 0 {
            s = self.done.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if take {
            s.1.take()
        } else {
            None
        }
    }
}

impl Pool {
    /// A pool of `threads` workers (at least one), named `name-i`.
    pub fn fixed(name: &str, threads: usize) -> Result<Pool> {
        let pool = Pool::empty(name, None);
        for i in 0..threads.max(1) {
            pool.start_worker(i)?;
        }
        Ok(pool)
    }

    /// A pool that starts a worker whenever a job finds none idle, and keeps idle workers for
    /// later jobs: every job starts at once, whatever else is running.
    pub fn growing(name: &str) -> Pool {
        Pool::empty(name, Some(Arc::new(Mutex::new(0))))
    }

    fn empty(name: &str, grow: Option<Arc<Mutex<usize>>>) -> Pool {
        let (tx, rx) = crossbeam_channel::unbounded();
        Pool {
            name: name.to_string(),
            tx,
            rx,
            grow,
        }
    }

    /// Start worker `i`; a growing pool's worker counts itself idle after each job.
    fn start_worker(&self, i: usize) -> Result<()> {
        let rx = self.rx.clone();
        let idle = self.grow.clone();
        let name = format!("{}-{i}", self.name);
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                // A job never unwinds into this loop (it catches its panic for its scope).
                while let Ok(job) = rx.recv() {
                    job();
                    if let Some(idle) = &idle {
                        *idle.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                    }
                }
            })
            .map(|_| ())
            .map_err(|e| Error::invalid(format!("cannot start thread {name}: {e}")))
    }

    /// For a growing pool, take an idle worker for one job or start one.
    fn reserve_worker(&self) -> Result<()> {
        let Some(idle) = &self.grow else {
            return Ok(());
        };
        let mut n = idle.lock().unwrap_or_else(|p| p.into_inner());
        if *n > 0 {
            *n -= 1;
            return Ok(());
        }
        drop(n);
        self.start_worker(self.rx.len() + 1)
    }

    /// Run `work(i)` for `i` in `0..jobs` on the pool's workers while the calling thread runs
    /// `body`; return `body`'s result once every job has finished. Jobs no worker has taken
    /// when `body` returns are run by the calling thread itself (a short query does not wait
    /// for a worker to wake up only to find nothing left to do). A panic in a job is resumed
    /// on the calling thread after all jobs have finished. When a worker cannot be started,
    /// the jobs already handed over run and the rest do not (so `work` must not count on all
    /// `jobs` running: the query layer's jobs take segments from a shared counter); an error
    /// only when none could start.
    pub fn scope<'env, R>(
        &self,
        jobs: usize,
        work: &'env (dyn Fn(usize) + Sync + 'env),
        body: impl FnOnce() -> R,
    ) -> Result<R> {
        let scope = Arc::new(ScopeJobs::default());
        let guard = DrainOnDrop(&scope);
        for i in 0..jobs {
            if let Err(e) = self.reserve_worker() {
                if i == 0 {
                    return Err(e);
                }
                break;
            }
            let l = scope.clone();
            let job: Box<dyn FnOnce() + Send + 'env> = Box::new(move || {
                let r = catch_unwind(AssertUnwindSafe(|| work(i)));
                l.latch.finish(r.err());
            });
            // SAFETY: the job borrows `work` for 'env. It is run either by a worker, which
            // takes it from the scope's queue and counts it running on the latch in one
            // step, or by this thread; `DrainOnDrop` (run below, and while unwinding) empties
            // the queue for good and then waits until the latch counts no job running. So
            // every job has run or been dropped before this function returns or unwinds
            // past `guard`, and a ticket that reaches a worker later finds the queue empty and
            // touches only the scope's `Arc`. Only the box's lifetime is erased, not its type.
            let job: Job =
                unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'env>, Job>(job) };
            scope
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(job);
            let ticket = scope.clone();
            if self.tx.send(Box::new(move || ticket.run_one())).is_err() {
                // No worker will see it; the drain below runs it here (unreachable: the pool
                // holds a receiver).
                break;
            }
        }
        let out = body();
        drop(guard);
        if let Some(panic) = scope.latch.wait(true) {
            resume_unwind(panic);
        }
        Ok(out)
    }
}

/// The jobs of one scope that no thread has taken yet, and the latch of those taken.
#[derive(Default)]
struct ScopeJobs {
    queue: Mutex<Vec<Job>>,
    latch: Latch,
}

impl ScopeJobs {
    /// Take one job, counted running, under the queue's lock.
    fn take(&self) -> Option<Job> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let job = q.pop()?;
        self.latch.start();
        Some(job)
    }

    /// What a ticket does on a worker: run a job of the scope if one is left.
    fn run_one(&self) {
        if let Some(job) = self.take() {
            job();
        }
    }
}

/// Runs on the calling thread the scope's jobs no worker took, then waits for those that
/// workers took; while unwinding it drops the untaken jobs instead of running them.
struct DrainOnDrop<'a>(&'a ScopeJobs);

impl Drop for DrainOnDrop<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let left = std::mem::take(&mut *self.0.queue.lock().unwrap_or_else(|p| p.into_inner()));
            drop(left);
        } else {
            while let Some(job) = self.0.take() {
                job();
            }
        }
        self.0.latch.wait(false);
    }
}

/// The process's pool of `threads` segment workers, made on first use (one per thread count
/// asked for, kept for the life of the process).
pub fn shared(threads: usize) -> Result<Arc<Pool>> {
    type Pools = Mutex<Vec<(usize, Arc<Pool>)>>;
    static POOLS: OnceLock<Pools> = OnceLock::new();
    let threads = threads.max(1);
    let pools = POOLS.get_or_init(|| Mutex::new(Vec::new()));
    let mut pools = pools.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, p)) = pools.iter().find(|(n, _)| *n == threads) {
        return Ok(p.clone());
    }
    let pool = Arc::new(Pool::fixed(&format!("logpivot-scan{threads}"), threads)?);
    pools.push((threads, pool.clone()));
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn jobs_borrow_the_callers_stack_and_all_finish_before_return() {
        let pool = Pool::fixed("t", 2).expect("pool");
        for round in 0..200 {
            let hits: Vec<AtomicUsize> = (0..8).map(|_| AtomicUsize::new(0)).collect();
            let work = |i: usize| {
                hits[i].fetch_add(round + 1, Ordering::Relaxed);
            };
            let r = pool.scope(8, &work, || 7).expect("scope");
            assert_eq!(r, 7);
            for h in &hits {
                assert_eq!(h.load(Ordering::Relaxed), round + 1);
            }
        }
    }

    #[test]
    fn a_panicking_job_is_resumed_on_the_caller_and_the_pool_goes_on() {
        let pool = Pool::fixed("t", 2).expect("pool");
        let work = |i: usize| {
            if i == 1 {
                panic!("job {i} fails");
            }
        };
        let r = catch_unwind(AssertUnwindSafe(|| pool.scope(3, &work, || ())));
        assert!(r.is_err(), "the panic reaches the caller");
        let n = AtomicUsize::new(0);
        let work = |_: usize| {
            n.fetch_add(1, Ordering::Relaxed);
        };
        pool.scope(4, &work, || ()).expect("scope");
        assert_eq!(n.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_growing_pool_runs_every_job_at_once_and_reuses_idle_workers() {
        let pool = Pool::growing("g");
        // Four jobs that each wait for all four to have started: only possible when none
        // queues behind another.
        let started = AtomicUsize::new(0);
        let work = |_: usize| {
            started.fetch_add(1, Ordering::SeqCst);
            while started.load(Ordering::SeqCst) < 4 {
                std::thread::yield_now();
            }
        };
        // The caller waits in `body` until the jobs have started, so workers run all four.
        pool.scope(4, &work, || {
            while started.load(Ordering::SeqCst) < 4 {
                std::thread::yield_now();
            }
        })
        .expect("scope");
        // Calls as the Python module makes them (the caller waits in `body` for the job's
        // result): an idle worker takes each, none is started.
        for _ in 0..50 {
            let done = AtomicUsize::new(0);
            let work = |_: usize| {
                done.store(1, Ordering::SeqCst);
            };
            pool.scope(1, &work, || {
                while done.load(Ordering::SeqCst) == 0 {
                    std::thread::yield_now();
                }
            })
            .expect("scope");
        }
        // The workers count themselves idle just after a job: wait for the last one.
        let idle = || pool.grow.as_ref().map_or(0, |m| *m.lock().expect("lock"));
        for _ in 0..10_000 {
            if idle() >= 4 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // Four workers, all idle; a call started another only if a worker was descheduled
        // between its job and counting itself idle (without reuse there would be 54).
        let n = idle();
        assert!((4..=8).contains(&n), "{n} workers for 54 jobs");
    }

    #[test]
    fn jobs_no_worker_took_run_on_the_caller() {
        // The only worker is held by another scope until this scope has returned: its jobs
        // can only have run on the calling thread.
        let pool = Arc::new(Pool::fixed("t", 1).expect("pool"));
        let started = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicUsize::new(0));
        let (p2, s2, r2) = (pool.clone(), started.clone(), release.clone());
        let blocker = std::thread::spawn(move || {
            let hold = |_: usize| {
                s2.store(1, Ordering::SeqCst);
                while r2.load(Ordering::SeqCst) == 0 {
                    std::thread::yield_now();
                }
            };
            // The body waits until the worker has taken the job (else this thread would run
            // it itself).
            p2.scope(1, &hold, || {
                while s2.load(Ordering::SeqCst) == 0 {
                    std::thread::yield_now();
                }
            })
            .expect("scope");
        });
        while started.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let me = std::thread::current().id();
        let ran: Mutex<Vec<std::thread::ThreadId>> = Mutex::new(Vec::new());
        let work = |_: usize| ran.lock().expect("lock").push(std::thread::current().id());
        pool.scope(3, &work, || ()).expect("scope");
        let ran = ran.into_inner().expect("lock");
        release.store(1, Ordering::SeqCst);
        blocker.join().expect("blocker");
        assert_eq!(ran, vec![me; 3]);
    }

    #[test]
    fn shared_pools_are_made_once_per_size() {
        let a = shared(3).expect("pool");
        let b = shared(3).expect("pool");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &shared(1).expect("pool")));
    }
}
