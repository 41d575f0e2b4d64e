//! The loom models of the lock-free parts, built only with
//! `RUSTFLAGS="--cfg loom" cargo test -p reliability-core --lib --release`.
//! Each part's core is a file of its own that uses `crate::sync` alone, so
//! it is included here unchanged.
