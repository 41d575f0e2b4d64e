//! Property: whatever tokens the attribute is given, parsing and expanding
//! return code or a `syn::Error`; they never panic.

use proptest::prelude::*;

/// Words that mean something to the parser, and some that do not.
const WORDS: &[&str] = &[
    "component",
    "crate",
    "thresholds",
    "strategies",
    "retry_budget",
    "max_attempts",
    "backoff",
    "base_delay",
    "max_delay",
    "jitter",
    "max_elapsed",
    "repair",
    "alternatives",
    "fallback",
    "open_after",
    "failure_rate",
    "window",
    "min_calls",
    "cool_down",
    "half_open_probes",
    "max_consecutive_failures",
    "min_success_rate",
    "degraded_success_rate",
    "slow_call",
    "skip",
    "no_recovery",
    "retry",
    "network",
    "circuit_breaker",
    "escalate",
    "exponential",
    "linear",
    "true",
    "false",
    "self",
    "fn",
    "=",
    ",",
    ";",
    "::",
    "-",
    "0",
    "1",
    "4294967296",
    "0.5",
    "1.5",
    "-1",
    "\"\"",
    "\"x\"",
    "\"250ms\"",
    "\"5 parsecs\"",
    "\"1.5s\"",
    "'a",
    "#",
    "!",
];

fn tokens() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(WORDS).prop_map(str::to_owned);
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|parts| parts.join(" ")),
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|parts| format!("({})", parts.join(" "))),
            prop::collection::vec(inner, 0..4).prop_map(|parts| format!("[{}]", parts.join(" "))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn impl_options_never_panic(args in tokens()) {
        let Ok(args) = args.parse::<proc_macro2::TokenStream>() else {
            return Ok(());
        };
        let item: proc_macro2::TokenStream = "impl S { fn a(&self, x: u8) -> Result<u8, E> { Ok(x) } fn b(&self) {} }"
            .parse()
            .unwrap();
        let _ = crate::attr::parse_impl_args(args.clone());
        let out = crate::reliable_impl(args, item);
        prop_assert!(!out.is_empty());
    }

    #[test]
    fn method_options_never_panic(args in tokens()) {
        let Ok(args) = args.parse::<proc_macro2::TokenStream>() else {
            return Ok(());
        };
        let item: proc_macro2::TokenStream =
            format!("impl S {{ #[reliable({args})] fn a(&self, x: u8) -> Result<u8, E> {{ Ok(x) }} }}")
                .parse()
                .unwrap();
        let out = crate::reliable_impl("strategies = [retry]".parse().unwrap(), item);
        prop_assert!(!out.is_empty());
    }
}
