//! The timer thread that wakes the async delays of the real clock, on any
//! executor: one thread for the process, a queue ordered by deadline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::Waker;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// What the timer thread and a waiting `Delay` share.
struct TimerEntry {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// A delay's entry in a [`Timer`]'s queue. Dropping it (with its delay,
/// fired or not) takes the entry out of the queue, so a cancelled delay
/// neither wakes anyone nor holds its memory until its deadline.
pub(super) struct Queued {
    timer: &'static Timer,
    key: TimerKey,
    entry: Arc<TimerEntry>,
}

impl Drop for Queued {
    fn drop(&mut self) {
        if self.entry.fired.load(Ordering::Acquire) {
            return;
        }
        if self.timer.pending.lock().remove(&self.key).is_none() {
            // The timer took it out to fire it just now: no wake is wanted.
            self.entry.waker.lock().take();
        }
    }
}

impl Queued {
    /// Whether the timer has woken it.
    pub(super) fn fired(&self) -> bool {
        self.entry.fired.load(Ordering::Acquire)
    }

    /// Whom to wake when it fires, from now on.
    pub(super) fn wake_with(&self, waker: &Waker) {
        self.entry.waker.lock().clone_from(&Some(waker.clone()));
    }
}

/// Where a delay waits in the timer's queue: its deadline, then the order
/// it came in (two delays may end at the same instant).
type TimerKey = (Instant, u64);

/// One background thread for every pending async delay of the process.
///
/// The queue is ordered by deadline, so the next to fire is the first, and
/// a delay dropped before it fires takes itself out (`Queued`'s `Drop`):
/// both cost a logarithm of the queue, where scanning a list cost its
/// length, and the queue only holds delays someone still waits on.
pub(super) struct Timer {
    pending: Mutex<BTreeMap<TimerKey, Arc<TimerEntry>>>,
    changed: Condvar,
    next_id: AtomicU64,
}

/// The shared timer, started on first use; `None` if its thread could not start.
pub(super) fn timer() -> Option<&'static Timer> {
    static TIMER: LazyLock<Option<&'static Timer>> = LazyLock::new(|| {
        Timer::start(|run| {
            std::thread::Builder::new()
                .name("reliability-timer".into())
                .spawn(run)
                .map(drop)
        })
    });
    *TIMER
}

impl Timer {
    /// A timer whose thread `spawn` starts; `None`, logged, if it cannot.
    pub(super) fn start(
        spawn: impl FnOnce(Box<dyn FnOnce() + Send>) -> std::io::Result<()>,
    ) -> Option<&'static Timer> {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            pending: Mutex::new(BTreeMap::new()),
            changed: Condvar::new(),
            next_id: AtomicU64::new(0),
        }));
        match spawn(Box::new(move || timer.run())) {
            Ok(()) => Some(timer),
            Err(error) => {
                tracing::error!(target: "reliability", %error, "could not start the timer thread; async recovery cannot back off and fails instead");
                None
            }
        }
    }

    /// Queues a wake of `waker` at `deadline`.
    pub(super) fn schedule(&'static self, deadline: Instant, waker: Waker) -> Queued {
        let key = (deadline, self.next_id.fetch_add(1, Ordering::Relaxed));
        let entry = Arc::new(TimerEntry {
            fired: AtomicBool::new(false),
            waker: Mutex::new(Some(waker)),
        });
        let mut pending = self.pending.lock();
        let first = pending
            .first_key_value()
            .is_none_or(|(next, _)| key < *next);
        pending.insert(key, Arc::clone(&entry));
        drop(pending);
        // Only a new first deadline changes how long the thread sleeps.
        if first {
            self.changed.notify_one();
        }
        Queued {
            timer: self,
            key,
            entry,
        }
    }

    /// How many delays wait in the queue.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.pending.lock().len()
    }

    fn run(&self) {
        let mut pending = self.pending.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(entry) = pending.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            if !due.is_empty() {
                drop(pending);
                for entry in due {
                    entry.fired.store(true, Ordering::Release);
                    if let Some(waker) = entry.waker.lock().take() {
                        waker.wake();
                    }
                }
                pending = self.pending.lock();
                continue;
            }
            match pending.first_key_value() {
                Some((&(next, _), _)) => {
                    self.changed.wait_until(&mut pending, next);
                }
                None => self.changed.wait(&mut pending),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Wake};
    use std::time::Duration;

    use super::*;
    use crate::record::clock::Delay;

    #[test]
    fn a_timer_whose_thread_cannot_start_is_none() {
        let started = Timer::start(|_| Err(std::io::Error::other("no more threads")));
        assert!(started.is_none());
        assert!(Delay::unavailable().is_unavailable());
        assert!(!Delay::ready().is_unavailable());
        let mut cx = Context::from_waker(Waker::noop());
        let mut delay = std::pin::pin!(Delay::unavailable());
        assert!(delay.as_mut().poll(&mut cx).is_ready());
    }

    /// A timer of the test's own, so that other tests' delays do not
    /// count; its thread lives on, as the shared timer's does.
    fn own_timer() -> &'static Timer {
        Timer::start(|run| std::thread::Builder::new().spawn(run).map(drop))
            .expect("a timer thread")
    }

    #[test]
    fn cancelled_delays_leave_the_timer_queue_at_once() {
        let timer = own_timer();
        let mut cx = Context::from_waker(Waker::noop());
        let in_an_hour = Instant::now() + Duration::from_secs(3600);
        for _ in 0..10_000 {
            let mut delay = std::pin::pin!(Delay::on_timer(timer, in_an_hour));
            assert!(delay.as_mut().poll(&mut cx).is_pending());
            assert_eq!(timer.queued(), 1, "the delay did not queue");
        }
        assert_eq!(timer.queued(), 0, "cancelled delays stay queued");
    }

    #[test]
    fn a_cancelled_delay_does_not_hold_up_the_ones_behind_it() {
        let timer = own_timer();
        let woken = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>, std::thread::Thread);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
                self.1.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Flag(Arc::clone(&woken), std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let start = Instant::now();
        let mut kept = std::pin::pin!(Delay::on_timer(timer, start + Duration::from_millis(20)));
        {
            let mut cancelled =
                std::pin::pin!(Delay::on_timer(timer, start + Duration::from_millis(10)));
            assert!(cancelled.as_mut().poll(&mut cx).is_pending());
        }
        assert!(kept.as_mut().poll(&mut cx).is_pending());
        assert_eq!(timer.queued(), 1);
        while !woken.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
            std::thread::park_timeout(Duration::from_secs(1));
        }
        assert!(kept.as_mut().poll(&mut cx).is_ready());
        assert!(start.elapsed() >= Duration::from_millis(20), "woken early");
        assert_eq!(timer.queued(), 0);
    }
}
