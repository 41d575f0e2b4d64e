//! The rate limiter's compare-and-swaps: the inlined path, the whole path's
//! retry loop and a token given back.

// The part has more than its models use.
#![allow(dead_code)]

#[path = "../recovery/token_bucket.rs"]
mod token_bucket;

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::Relaxed};

use loom::sync::Arc;
use loom::thread;

use super::explore::{explore, reader_yield};
use token_bucket::TokenBucket;

/// Units between two tokens in the models.
const INTERVAL: u64 = 10;

/// A bucket of `burst` tokens, its inlined path open.
fn bucket(burst: u64) -> Arc<TokenBucket> {
    let bucket = TokenBucket::new();
    bucket.open_inline(INTERVAL, (burst - 1) * INTERVAL);
    Arc::new(bucket)
}

/// What the attribute's admission does: the inlined path, then the
/// whole one, which retries a lost race; refused if no token is free.
fn take(bucket: &TokenBucket, burst: u64, now: u64) -> bool {
    bucket.try_take_inline(now)
        || bucket
            .reserve(now, INTERVAL, (burst - 1) * INTERVAL, 0)
            .is_ok()
}

/// Admissions by `threads`, each reading its own clock (`readings`)
/// and trying once.
fn race(bucket: &Arc<TokenBucket>, burst: u64, readings: &[u64]) -> usize {
    let racers: Vec<_> = readings
        .iter()
        .map(|&now| {
            let bucket = Arc::clone(bucket);
            thread::spawn(move || take(&bucket, burst, now))
        })
        .collect();
    racers
        .into_iter()
        .map(|racer| racer.join().unwrap())
        .filter(|&taken| taken)
        .count()
}

/// Three callers race at one moment for a full bucket of two tokens,
/// on the inlined compare-and-swap and the whole path's retry loop.
///
/// - Exactly two go: a lost race is retried, never counted twice.
/// - The bucket then ends where two tokens leave it.
#[test]
fn racing_callers_take_exactly_the_tokens_there_are() {
    explore("rate limit, 3 callers for 2 tokens", 3, || {
        let bucket = bucket(2);
        assert_eq!(race(&bucket, 2, &[100, 100, 100]), 2);
        assert_eq!(bucket.full_at(), 100 + 2 * INTERVAL);
    });
}

/// Three callers whose readings differ (a caller may read its clock
/// before another and reach the bucket after it), a burst of one.
///
/// - At most `burst + (latest - earliest) / interval` go: 1 + 15 / 10.
/// - The first to reach the idle bucket goes, whatever its reading.
/// - Each admission moves the bucket on by an interval, from a reading
///   or from where the last one left it; a refusal moves nothing.
#[test]
fn callers_with_differing_readings_never_pass_the_rate() {
    explore("rate limit, 3 callers, differing readings", 3, || {
        let bucket = bucket(1);
        let taken = race(&bucket, 1, &[100, 100, 115]) as u64;
        assert!((1..=2).contains(&taken), "{taken}");
        let full_at = bucket.full_at();
        assert!((100 + taken * INTERVAL..=115 + taken * INTERVAL).contains(&full_at));
    });
}

/// A caller that reserved a token to wait for gives it back (its future
/// was dropped) while another takes one, at the top of the range of
/// readings, with `max_wait` as large as it goes.
///
/// - No arithmetic panics (the loom build has overflow checks on).
/// - The other caller is refused only while the waiter holds its
///   reservation, and a token given back is free again: the bucket
///   ends one interval on per token kept.
#[test]
fn a_token_given_back_goes_to_another_caller_without_overflow() {
    // How often the other caller went and was refused: both happen.
    let outcomes = std::sync::Arc::new([StdAtomicUsize::new(0), StdAtomicUsize::new(0)]);
    let counted = std::sync::Arc::clone(&outcomes);
    explore("rate limit, give back near u64::MAX", 3, move || {
        let now = u64::MAX - 3 * INTERVAL;
        let bucket = bucket(1);
        // The bucket's one token is taken: the next is due in an interval.
        assert!(take(&bucket, 1, now));
        let waiter = {
            let bucket = Arc::clone(&bucket);
            thread::spawn(move || {
                let reserved = bucket.reserve(now, INTERVAL, 0, u64::MAX);
                if reserved.is_ok() {
                    bucket.give_back(INTERVAL);
                }
                reserved
            })
        };
        reader_yield();
        let other = take(&bucket, 1, now + INTERVAL);
        counted[usize::from(other)].fetch_add(1, Relaxed);
        let reserved = waiter.join().unwrap();
        // Due one interval on, or two if the other went first: any wait
        // is within `max_wait`.
        assert!(matches!(reserved, Ok(wait) if wait == INTERVAL || wait == 2 * INTERVAL));
        // The other is refused only while the waiter holds the token;
        // either way the given-back token leaves the bucket one
        // interval on per token in use.
        let full_at = bucket.full_at();
        if other {
            assert_eq!(full_at, now + 2 * INTERVAL);
        } else {
            assert_eq!((reserved, full_at), (Ok(INTERVAL), now + INTERVAL));
        }
    });
    assert!(outcomes.iter().all(|count| count.load(Relaxed) > 0));
}
