//! A user's crate that has just added `reliability-core`: its tests, written
//! before, must still compile.
//!
//! A crate anywhere in the dependency graph that implements a std trait for a
//! primitive type changes type inference here. `serde_json` did: with its
//! `impl PartialEq<Value> for u8`, comparing a `u8` with a not yet inferred
//! type has two candidates, and the snippets below (from the test suites of
//! `bytes` and `itertools`) fail with E0283 "multiple impls satisfying
//! `u8: PartialEq<_>` found in `core`, `serde_json`". This crate is built by
//! `cargo test --workspace` and `cargo clippy --workspace --all-targets`, so
//! such a dependency cannot come back into reliability-core's default graph
//! unnoticed.

use reliability_core::reliable;

/// Splits a byte string and puts it back together.
#[derive(Debug, Default)]
pub struct Splitter;

// The attribute is what loads reliability-core (and so its whole dependency
// graph) into this crate, as in any user's crate.
#[reliable(component = "inference_guard")]
impl Splitter {
    /// `bytes` split at `at`: the head and the tail.
    pub fn split(&self, bytes: &[u8], at: usize) -> (Vec<u8>, Vec<u8>) {
        let at = at.min(bytes.len());
        (bytes[..at].to_vec(), bytes[at..].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use std::iter::once;

    use itertools::assert_equal;

    use super::Splitter;

    #[test]
    fn an_uninferred_vec_compares_with_a_byte_slice() {
        let s = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        for i in 0..(s.len() + 1) {
            let (head, tail) = Splitter.split(&s[..], i);
            assert_eq!(i, head.len());
            // `Vec<_>`: `extend` with `&u8` items fits both `Extend<u8>` and
            // `Extend<&u8>`, so the element type is still open at the
            // comparison, which must find the one `u8: PartialEq<u8>`.
            let mut sum = Vec::new();
            sum.extend(head.iter());
            sum.extend(tail.iter());
            assert_eq!(&s[..], &sum[..]);
        }
    }

    #[test]
    fn an_empty_product_is_one_empty_vec() {
        // What the cartesian product of no lists yields: one empty list.
        let empty: Vec<Vec<u8>> = vec![vec![]];
        assert_equal(empty, once(Vec::new()));
    }
}
