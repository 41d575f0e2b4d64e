//! The names the attribute accepts for strategies and backoffs, and the
//! core's variants they stand for: shared by `attr` (parsing) and `ast`.

/// A recovery strategy, as `strategies = [...]` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    Retry,
    Network,
    Repair,
    Alternatives,
    Fallback,
    CircuitBreaker,
    Escalate,
}

/// The strategies' names, for "expected one of" messages.
pub(crate) const STRATEGY_LIST: &str =
    "`retry`, `network`, `repair`, `alternatives`, `fallback`, `circuit_breaker`, `escalate`";

impl Strategy {
    /// Every strategy, in the order `strategies = [...]` documents them.
    const ALL: [Strategy; 7] = [
        Strategy::Retry,
        Strategy::Network,
        Strategy::Repair,
        Strategy::Alternatives,
        Strategy::Fallback,
        Strategy::CircuitBreaker,
        Strategy::Escalate,
    ];

    /// The name in `strategies = [...]`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Strategy::Retry => "retry",
            Strategy::Network => "network",
            Strategy::Repair => "repair",
            Strategy::Alternatives => "alternatives",
            Strategy::Fallback => "fallback",
            Strategy::CircuitBreaker => "circuit_breaker",
            Strategy::Escalate => "escalate",
        }
    }

    /// The strategy `strategies = [...]` calls `name`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The variant of the core's `Strategy` enum.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Strategy::Retry => "Retry",
            Strategy::Network => "Network",
            Strategy::Repair => "Repair",
            Strategy::Alternatives => "Alternatives",
            Strategy::Fallback => "Fallback",
            Strategy::CircuitBreaker => "CircuitBreaker",
            Strategy::Escalate => "Escalate",
        }
    }
}

/// How the delay between retries grows: `backoff = ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backoff {
    Exponential,
    Linear,
    Constant,
}

impl Backoff {
    /// The backoff `backoff = name` means.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "exponential" => Some(Backoff::Exponential),
            "linear" => Some(Backoff::Linear),
            "constant" => Some(Backoff::Constant),
            _ => None,
        }
    }

    /// The variant of the core's `Backoff` enum.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Backoff::Exponential => "Exponential",
            Backoff::Linear => "Linear",
            Backoff::Constant => "Constant",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_names_round_trip() {
        for strategy in Strategy::ALL {
            assert_eq!(Strategy::from_name(strategy.name()), Some(strategy));
            assert!(STRATEGY_LIST.contains(&format!("`{}`", strategy.name())));
        }
        assert_eq!(Strategy::from_name("retyr"), None);
        assert_eq!(Strategy::CircuitBreaker.variant(), "CircuitBreaker");
        assert_eq!(Backoff::from_name("linear"), Some(Backoff::Linear));
        assert_eq!(Backoff::from_name("cubic"), None);
    }
}
