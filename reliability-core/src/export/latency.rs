//! A method's latency as the snapshot keeps it: the exported bucket edges
//! and the percentiles, from its reading's histogram in one place.

use crate::record::histogram::{bucket_index, lower_bound, BUCKETS};

/// The upper edges of the latency buckets exported to Prometheus: every
/// other power of two of nanoseconds, from 1.024 µs to 68.7 s. They fall on
/// the internal histogram's bucket boundaries, so the counts are exact.
pub(crate) const LATENCY_BUCKET_EDGES_NANOS: [u64; 14] = [
    1 << 10,
    1 << 12,
    1 << 14,
    1 << 16,
    1 << 18,
    1 << 20,
    1 << 22,
    1 << 24,
    1 << 26,
    1 << 28,
    1 << 30,
    1 << 32,
    1 << 34,
    1 << 36,
];

/// The internal bucket each exported edge falls on: completed calls at most
/// as long as edge `e` are those of the buckets before `EDGE_BUCKETS[e]`.
const EDGE_BUCKETS: [usize; LATENCY_BUCKET_EDGES_NANOS.len()] = {
    let mut indices = [0; LATENCY_BUCKET_EDGES_NANOS.len()];
    let mut e = 0;
    while e < indices.len() {
        indices[e] = bucket_index(LATENCY_BUCKET_EDGES_NANOS[e]);
        e += 1;
    }
    indices
};

/// The percentiles the snapshot keeps, in increasing order.
pub(crate) const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// A method's latency from its histogram, in one pass over its buckets:
/// the p50, p95 and p99 as [`quantile`] gives them, and the completed calls
/// below each exported edge, written over the buckets (a snapshot keeps the
/// reading's allocation rather than make another per (instance, method)).
pub(crate) fn shape_latency(mut buckets: Vec<u64>, max: u64) -> ([u64; QUANTILES.len()], Vec<u64>) {
    let total: u64 = buckets.iter().sum();
    let mut quantiles = [0; QUANTILES.len()];
    if total > 0 {
        let ranks = QUANTILES.map(|q| ((q * total as f64).ceil() as u64).clamp(1, total));
        let (mut seen, mut next) = (0, 0);
        // Stops at the bucket of the last percentile: the rest cannot move them.
        for (index, &count) in buckets.iter().enumerate() {
            seen += count;
            while next < ranks.len() && seen >= ranks[next] {
                quantiles[next] = if index == BUCKETS - 1 {
                    max
                } else {
                    let low = lower_bound(index);
                    (low + (lower_bound(index + 1) - low) / 2).min(max)
                };
                next += 1;
            }
            if next == ranks.len() {
                break;
            }
        }
    }
    let mut below = [0; LATENCY_BUCKET_EDGES_NANOS.len()];
    let (mut sum, mut from) = (0, 0);
    for (below, &to) in below.iter_mut().zip(&EDGE_BUCKETS) {
        // A reading's buckets end at its last count.
        let to = to.min(buckets.len());
        sum += buckets[from.min(to)..to].iter().sum::<u64>();
        from = to;
        *below = sum;
    }
    buckets.clear();
    buckets.extend_from_slice(&below);
    buckets.shrink_to(below.len());
    (quantiles, buckets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::histogram::quantile;

    /// The buckets below each edge and the percentiles, the slow way.
    fn by_definition(buckets: &[u64], max: u64) -> ([u64; 3], Vec<u64>) {
        let total = buckets.iter().sum();
        let quantiles = QUANTILES.map(|q| quantile(buckets, total, q, max));
        let below = LATENCY_BUCKET_EDGES_NANOS
            .iter()
            .map(|&edge| buckets.iter().take(bucket_index(edge)).sum())
            .collect();
        (quantiles, below)
    }

    #[test]
    fn one_pass_gives_the_percentiles_and_edges_of_their_definitions() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for case in 0..500 {
            let len = (next() % (BUCKETS as u64 + 1)) as usize;
            let buckets: Vec<u64> = (0..len)
                .map(|_| if next() % 3 == 0 { next() % 1_000 } else { 0 })
                .collect();
            let max = if case % 7 == 0 { 0 } else { next() % (1 << 40) };
            let expected = by_definition(&buckets, max);
            let got = shape_latency(buckets.clone(), max);
            assert_eq!(got, expected, "{buckets:?}, max {max}");
        }
        assert_eq!(shape_latency(Vec::new(), 0), ([0; 3], vec![0; 14]));
    }
}
