//! The outcomes of a circuit's last attempts, for its failure-rate rule: one
//! word of failure bits, shifted by one compare-and-swap per outcome.
//!
//! Every outcome enters the word exactly once and leaves it `window`
//! outcomes later, so the failures counted (a popcount) are always those of
//! the outcomes the word holds, whatever the interleaving: there is no
//! separate failure count to fall out of step.
//!
//! A push always writes the word, even with the value it read (a success
//! into a ring without failures): the compare-and-swap reads the latest
//! word, and it hands the pushes before it, with their counts, to the pushes
//! after it (release, acquire). A push that only loaded could miss one that
//! had already ended.

use crate::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed},
};

/// The widest window: the bits of one word.
pub(crate) const MAX_WINDOW: u32 = u64::BITS;

/// The last `window` outcomes, newest in bit 0; a set bit is a failure.
#[derive(Debug)]
pub(crate) struct Ring {
    failures: AtomicU64,
    /// Outcomes pushed since the last clear, up to `window`. Counted before
    /// an outcome's bit goes in, so a push that reads it after its own
    /// compare-and-swap sees at least every outcome its word holds.
    recorded: AtomicU32,
    window: u32,
}

/// The ring just after one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading {
    /// Failures among the outcomes the ring holds.
    pub(crate) failures: u32,
    /// Outcomes the ring holds, at least `failures`, at most `window`.
    pub(crate) filled: u32,
}

impl Reading {
    /// Whether the failure-rate rule opens the circuit on this reading.
    pub(crate) fn reaches(self, rate: f64, min_calls: u32) -> bool {
        self.filled >= min_calls
            && self.filled > 0
            && f64::from(self.failures) / f64::from(self.filled) >= rate
    }
}

impl Ring {
    crate::sync::const_fn! {
        /// An empty ring over the last `window` outcomes (clamped to 1..=64).
        pub(crate) fn new(window: u32) -> Ring {
            let window = if window == 0 {
                1
            } else if window > MAX_WINDOW {
                MAX_WINDOW
            } else {
                window
            };
            Ring {
                failures: AtomicU64::new(0),
                recorded: AtomicU32::new(0),
                window,
            }
        }
    }

    fn mask(&self) -> u64 {
        u64::MAX >> (MAX_WINDOW - self.window)
    }

    /// Pushes one outcome; returns the ring as this push left it.
    pub(crate) fn push(&self, failure: bool) -> Reading {
        if self.recorded.load(Relaxed) < self.window {
            // Saturates at `window`: the count is never read past it.
            let window = self.window;
            let _ = self
                .recorded
                .fetch_update(Relaxed, Relaxed, |n| (n < window).then_some(n + 1));
        }
        let mask = self.mask();
        let mut old = self.failures.load(Relaxed);
        let word = loop {
            let new = ((old << 1) | u64::from(failure)) & mask;
            match self
                .failures
                .compare_exchange_weak(old, new, AcqRel, Relaxed)
            {
                Ok(_) => break new,
                Err(now) => old = now,
            }
        };
        let failures = word.count_ones();
        Reading {
            failures,
            // At least the count of every push whose outcome the word holds:
            // each counted before its compare-and-swap, which this one read.
            filled: self.recorded.load(Acquire).max(failures),
        }
    }

    /// Forgets every outcome. A push racing with it may leave its one
    /// outcome in the cleared ring; it is then counted in `filled` too.
    pub(crate) fn clear(&self) {
        self.failures.store(0, Relaxed);
        self.recorded.store(0, Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn push_all(ring: &Ring, outcomes: &[bool]) -> Reading {
        let mut last = None;
        for &failure in outcomes {
            last = Some(ring.push(failure));
        }
        last.unwrap()
    }

    #[test]
    fn counts_the_failures_of_the_last_window_outcomes() {
        let ring = Ring::new(4);
        let r = push_all(&ring, &[true, false, true]);
        assert_eq!((r.failures, r.filled), (2, 3));
        // Two more: the first failure leaves the window.
        let r = push_all(&ring, &[false, false]);
        assert_eq!((r.failures, r.filled), (1, 4));
        let r = push_all(&ring, &[false, false]);
        assert_eq!((r.failures, r.filled), (0, 4));
    }

    #[test]
    fn every_window_the_attribute_accepts_is_exact() {
        for window in 1..=MAX_WINDOW {
            let ring = Ring::new(window);
            // Failures at every third position, for three windows' worth.
            let outcomes: Vec<bool> = (0..3 * window).map(|i| i % 3 == 0).collect();
            for (i, _) in outcomes.iter().enumerate() {
                let r = ring.push(outcomes[i]);
                let start = (i + 1).saturating_sub(window as usize);
                let expected = outcomes[start..=i].iter().filter(|&&f| f).count() as u32;
                assert_eq!(r.failures, expected, "window {window}, push {i}");
                assert_eq!(r.filled, (i as u32 + 1).min(window), "window {window}");
            }
        }
    }

    #[test]
    fn the_rule_needs_min_calls_and_the_rate() {
        let ring = Ring::new(10);
        let r = push_all(&ring, &[true, true, true]);
        assert!(!r.reaches(0.5, 4), "3 of min_calls 4");
        assert!(ring.push(false).reaches(0.5, 4), "3 of 4 failed");
        ring.clear();
        assert!(!ring.push(false).reaches(0.5, 0));
        assert!(ring.push(true).reaches(0.5, 0), "1 of 2 failed");
    }

    #[test]
    fn a_clear_forgets_the_window_and_its_fill() {
        let ring = Ring::new(3);
        push_all(&ring, &[true, true, true]);
        ring.clear();
        assert_eq!(
            ring.push(false),
            Reading {
                failures: 0,
                filled: 1
            }
        );
    }

    /// 16 threads push 2 % failures into a window of 64; the popcount can
    /// never report more failures than the window holds outcomes, and a
    /// 50 % rule never trips (the race of the former failure count wrapped
    /// to `u32::MAX` and tripped it within a second).
    #[test]
    fn racing_pushes_never_overcount() {
        let ring = Ring::new(64);
        std::thread::scope(|s| {
            for t in 0..16u64 {
                let ring = &ring;
                s.spawn(move || {
                    for i in 0..20_000u64 {
                        let r = ring.push((i * 16 + t) % 50 == 0);
                        assert!(r.failures <= r.filled && r.filled <= 64);
                        assert!(!r.reaches(0.5, 64), "{r:?}");
                    }
                });
            }
        });
    }
}
