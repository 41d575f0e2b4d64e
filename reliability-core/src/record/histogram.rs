//! A fixed-size log-linear latency histogram.
//!
//! Values are nanoseconds. Below 128 ns the buckets are linear, 16 ns wide;
//! from there every power of two is split into 8 equal sub-buckets, up to
//! 2^36 ns (about 68.7 s); larger values land in the last bucket. Reporting a
//! bucket's midpoint keeps the relative error of a quantile at or below 1/16
//! (6.25 %), and below 3.5 % in the upper half of each octave. The layout is
//! the same for every call site, so histograms merge by adding counts.

/// Sub-buckets per power of two, as a shift.
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// The first power of two that is split log-linearly.
const FIRST_OCTAVE: u32 = 7;
/// One past the last power of two that is split.
const END_OCTAVE: u32 = 36;
const LINEAR_LIMIT: u64 = 1 << FIRST_OCTAVE;
const LINEAR_WIDTH_SHIFT: u32 = FIRST_OCTAVE - SUB_BITS;

/// Number of buckets in every histogram.
pub(crate) const BUCKETS: usize = SUB + (END_OCTAVE - FIRST_OCTAVE) as usize * SUB;

/// The bucket a value falls in.
#[inline(always)]
pub(crate) const fn bucket_index(nanos: u64) -> usize {
    if nanos < LINEAR_LIMIT {
        return (nanos >> LINEAR_WIDTH_SHIFT) as usize;
    }
    let octave = 63 - nanos.leading_zeros();
    if octave >= END_OCTAVE {
        return BUCKETS - 1;
    }
    let sub = ((nanos >> (octave - SUB_BITS)) as usize) & (SUB - 1);
    SUB + (octave - FIRST_OCTAVE) as usize * SUB + sub
}

/// The smallest value that falls in bucket `index` (`index <= BUCKETS`).
pub(crate) fn lower_bound(index: usize) -> u64 {
    if index < SUB {
        return (index as u64) << LINEAR_WIDTH_SHIFT;
    }
    let octave = FIRST_OCTAVE + ((index - SUB) / SUB) as u32;
    let sub = ((index - SUB) % SUB) as u64;
    (1u64 << octave) + (sub << (octave - SUB_BITS))
}

/// Estimates the `q` quantile (0 < q <= 1) of merged bucket counts (the
/// first `counts.len()` buckets; the rest hold none).
///
/// Returns the midpoint of the bucket that holds the rank, never more than
/// the largest value seen (which is also the answer for the open last bucket).
pub(crate) fn quantile(counts: &[u64], total: u64, q: f64, max: u64) -> u64 {
    if total == 0 {
        return 0;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for (index, &count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            if index == BUCKETS - 1 {
                return max;
            }
            let low = lower_bound(index);
            let high = lower_bound(index + 1);
            return (low + (high - low) / 2).min(max);
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        for index in 0..BUCKETS {
            let low = lower_bound(index);
            assert_eq!(bucket_index(low), index, "lower bound of {index}");
            let high = lower_bound(index + 1);
            assert!(high > low);
            assert_eq!(bucket_index(high - 1), index, "upper edge of {index}");
        }
        assert_eq!(bucket_index(u64::MAX), BUCKETS - 1);
        assert_eq!(lower_bound(BUCKETS), 1 << END_OCTAVE);
    }

    #[test]
    fn midpoint_error_stays_within_one_sixteenth() {
        let mut value = LINEAR_LIMIT;
        while value < (1 << END_OCTAVE) {
            let index = bucket_index(value);
            let mid = lower_bound(index) + (lower_bound(index + 1) - lower_bound(index)) / 2;
            let error = (mid as f64 - value as f64).abs() / value as f64;
            assert!(error <= 1.0 / 16.0 + 1e-9, "{value}: {error}");
            value = value * 9 / 8 + 7;
        }
    }

    #[test]
    fn quantiles_of_a_spread_distribution() {
        let mut counts = [0u64; BUCKETS];
        // 1..=1000 microseconds, one each.
        for micros in 1..=1000u64 {
            counts[bucket_index(micros * 1000)] += 1;
        }
        for (q, expected) in [(0.5, 500_000.0), (0.95, 950_000.0), (0.99, 990_000.0)] {
            let got = quantile(&counts, 1000, q, 1_000_000) as f64;
            assert!((got - expected).abs() / expected < 0.0625, "q{q}: {got}");
        }
        assert_eq!(quantile(&counts, 1000, 1.0, 1_000_000), 1_000_000);
        assert_eq!(quantile(&counts, 0, 0.5, 0), 0);
    }

    #[test]
    fn open_last_bucket_reports_the_maximum() {
        let mut counts = [0u64; BUCKETS];
        counts[BUCKETS - 1] = 3;
        assert_eq!(quantile(&counts, 3, 0.5, 500_000_000_000), 500_000_000_000);
    }
}
