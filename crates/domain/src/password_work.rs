//! Argon2id work, bounded. Each hash or verification costs tens of milliseconds and 19 MiB by
//! design, so unbounded, a flood of logins with invented emails takes the memory and the cores
//! the gateway check and the token endpoint need (200 concurrent logins once raised the peak
//! by 1.5 GB and the check's p99 from 0.7 to 108 ms). At most one hash per core runs at a
//! time, a short queue waits behind them, and beyond that the caller is told to come back.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// Every permit is taken and the queue is full: answer 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is at capacity; try again shortly")]
pub struct Busy;

impl Busy {
    /// A queue position frees within tens of milliseconds; one second is the smallest
    /// `Retry-After`.
    pub const RETRY_AFTER_SECONDS: i64 = 1;
}

pub struct PasswordWork {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Default for PasswordWork {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self::new(cores, cores * 4)
    }
}

impl PasswordWork {
    pub fn new(max_running: usize, max_waiting: usize) -> Self {
        Self { running: Arc::new(Semaphore::new(max_running.max(1))), waiting: AtomicUsize::new(0), max_waiting }
    }

    /// Runs `work` on the blocking pool once a permit is free, or refuses at once if the queue
    /// is full.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
        let permit = match self.running.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Leaves the queue however the wait ends: with a permit, or dropped because
                // the caller hung up (hyper drops the handler), which would otherwise shrink
                // the queue for good.
                let _place = QueuePlace::take(&self.waiting, self.max_waiting).ok_or(Busy)?;
                self.running.clone().acquire_owned().await.map_err(|_| Busy)?
            }
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| Busy)
    }
}

/// A place in the queue, given back when dropped.
struct QueuePlace<'a>(&'a AtomicUsize);

impl<'a> QueuePlace<'a> {
    fn take(waiting: &'a AtomicUsize, max_waiting: usize) -> Option<Self> {
        let taken =
            waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| (now < max_waiting).then_some(now + 1));
        // Not `then_some`: it would build, and so drop, a place that was never taken.
        taken.is_ok().then(|| Self(waiting))
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    /// Work that holds its permit until the test opens the gate.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl Gate {
        fn wait(&self) {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }

        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_permits_run_and_the_queue_overflows_into_busy() {
        let work = Arc::new(PasswordWork::new(2, 3));
        let gate = Arc::new(Gate::default());
        let running = Arc::new(AtomicUsize::new(0));
        let mut calls = Vec::new();
        for _ in 0..12 {
            let (work, gate, running) = (work.clone(), gate.clone(), running.clone());
            calls.push(tokio::spawn(async move {
                work.run(move || {
                    running.fetch_add(1, Ordering::SeqCst);
                    gate.wait();
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        // Two run, three wait, and the seven others are told at once to come back.
        while running.load(Ordering::SeqCst) < 2 || work.waiting.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while calls.iter().filter(|call| call.is_finished()).count() < 7 {
            assert!(std::time::Instant::now() < deadline, "the overflow was not refused");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut pending = Vec::new();
        let mut busy = 0;
        for call in calls {
            if call.is_finished() {
                assert_eq!(call.await.unwrap(), Err(Busy));
                busy += 1;
            } else {
                pending.push(call);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(running.load(Ordering::SeqCst), 2, "never more than the permits at once");
        assert_eq!((busy, pending.len()), (7, 5));
        gate.open();
        for call in pending {
            assert_eq!(call.await.unwrap(), Ok(()));
        }
        // Once the flood has passed, work is accepted again.
        assert_eq!(work.run(|| 7).await, Ok(7));
    }

    /// A caller that hangs up while queued gives its place back (a review found the queue
    /// shrinking for good after a few dropped logins).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_hangs_up_while_queued_gives_its_place_back() {
        let work = Arc::new(PasswordWork::new(1, 2));
        let gate = Arc::new(Gate::default());
        let holder = {
            let (work, gate) = (work.clone(), gate.clone());
            tokio::spawn(async move { work.run(move || gate.wait()).await })
        };
        while work.running.available_permits() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for _ in 0..5 {
            let queued = tokio::spawn({
                let work = work.clone();
                async move { work.run(|| ()).await }
            });
            while work.waiting.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            queued.abort();
            let _ = queued.await;
            assert_eq!(work.waiting.load(Ordering::SeqCst), 0, "the place is given back");
        }
        gate.open();
        assert_eq!(holder.await.unwrap(), Ok(()));
    }
}
