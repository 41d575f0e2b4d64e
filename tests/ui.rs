//! Compile-time behaviour of `#[reliable]`, checked with trybuild.
//!
//! `tests/ui/fail/`: one mistake per file, named for the mistake; the
//! committed `.stderr` pins the message and the span of each error (one error
//! per mistake, pointing at the token at fault, and errors in the user's own
//! code still reported at the user's lines).
//!
//! `tests/ui/pass/`: programs that must compile under `#![deny(warnings)]` and
//! run: `no_std`, `forbid(unsafe_code)`, `macro_rules!`, a renamed crate path
//! and every option together.
//!
//! After a deliberate change of a message, regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test ui` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
