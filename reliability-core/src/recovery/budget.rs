//! A component's retry budget, counted in one-second slots over a window.

use std::time::Instant;

use crate::recovery::strategy::RetryBudget;

const SLOTS: usize = 64;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    second: u64,
    calls_before: u64,
    retries: u64,
    used: bool,
}

/// Retries granted per second; calls are read from the component's counters
/// when a retry is asked for, so the call path never touches the budget.
#[derive(Debug)]
pub(crate) struct BudgetState {
    origin: Instant,
    slots: [Slot; SLOTS],
}

impl BudgetState {
    pub(crate) fn new(origin: Instant) -> Self {
        BudgetState {
            origin,
            slots: [Slot::default(); SLOTS],
        }
    }

    /// Whether the budget has a retry left; `calls` is the component's total of calls so far.
    pub(crate) fn available(&mut self, budget: &RetryBudget, now: Instant, calls: u64) -> bool {
        self.check(budget, now, calls, false)
    }

    /// Takes one retry from the budget if there is one.
    pub(crate) fn try_withdraw(&mut self, budget: &RetryBudget, now: Instant, calls: u64) -> bool {
        self.check(budget, now, calls, true)
    }

    fn check(&mut self, budget: &RetryBudget, now: Instant, calls: u64, take: bool) -> bool {
        let second = now.saturating_duration_since(self.origin).as_secs();
        let window = budget.window().as_secs().clamp(1, SLOTS as u64);
        let index = (second % SLOTS as u64) as usize;
        if !self.slots[index].used || self.slots[index].second != second {
            self.slots[index] = Slot {
                second,
                calls_before: calls,
                retries: 0,
                used: true,
            };
        }
        let first = second.saturating_sub(window - 1);
        let mut retries = 0;
        let mut calls_before = calls;
        for slot in self
            .slots
            .iter()
            .filter(|s| s.used && s.second >= first && s.second <= second)
        {
            retries += slot.retries;
            calls_before = calls_before.min(slot.calls_before);
        }
        let calls_in_window = calls.saturating_sub(calls_before);
        let allowed = budget.ratio() * calls_in_window as f64
            + f64::from(budget.per_second()) * window as f64;
        let granted = (retries + 1) as f64 <= allowed;
        if granted && take {
            self.slots[index].retries += 1;
        }
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reserve_and_ratio_bound_the_retries() {
        let t0 = Instant::now();
        let budget = RetryBudget::new()
            .with_ratio(0.2)
            .with_per_second(1)
            .with_window(Duration::from_secs(10));
        let mut state = BudgetState::new(t0);
        // No traffic: the reserve is 1 per second of the window.
        assert!(state.available(&budget, t0, 0));
        let granted = (0..50)
            .filter(|_| state.try_withdraw(&budget, t0, 0))
            .count();
        assert_eq!(granted, 10);
        assert!(!state.available(&budget, t0, 0));
        // 100 more calls in the same second: 20 % of them.
        let granted = (0..50)
            .filter(|_| state.try_withdraw(&budget, t0, 100))
            .count();
        assert_eq!(granted, 20);
    }

    #[test]
    fn the_window_slides() {
        let t0 = Instant::now();
        let budget = RetryBudget::new()
            .with_ratio(0.0)
            .with_per_second(1)
            .with_window(Duration::from_secs(2));
        let mut state = BudgetState::new(t0);
        assert!(state.try_withdraw(&budget, t0, 0));
        assert!(state.try_withdraw(&budget, t0, 0));
        assert!(!state.try_withdraw(&budget, t0, 0));
        let t1 = t0 + Duration::from_secs(1);
        assert!(!state.try_withdraw(&budget, t1, 0));
        // Two seconds on, the first second's retries have left the window.
        let t2 = t0 + Duration::from_secs(2);
        assert!(state.try_withdraw(&budget, t2, 0));
        assert!(state.try_withdraw(&budget, t2, 0));
        assert!(!state.try_withdraw(&budget, t2, 0));
    }
}
