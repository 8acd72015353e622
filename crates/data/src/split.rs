//! Seeded, stratified subsets: train/validation/test splits, `limit` and the probe set.
//!
//! Stratified means every class gets its share of the subset: class `c` with `n_c` of the
//! `n` examples gets `k * n_c / n` places, rounded by the largest-remainder method so that
//! the shares add up to exactly `k` and no class is off by more than one.

use std::collections::BTreeMap;

use prng::Rng;

/// The sub-streams of the seed, one per use, so that changing one (say, the validation
/// fraction) never changes the numbers drawn by another (say, the batch order).
pub(crate) mod stream {
    pub const TEST: u64 = 1;
    pub const LIMIT: u64 = 2;
    pub const VALID: u64 = 3;
    pub const SPIRAL: u64 = 4;
    pub const BATCHES: u64 = 5;
    pub const PROBE: u64 = 6;
    pub const ADDING: u64 = 7;
}

/// A stratified subset of `k` indices of `labels` (all of them when `k >= labels.len()`),
/// drawn with `seed` and returned sorted.
pub fn stratified_subset(labels: &[u32], k: usize, seed: u64) -> Vec<usize> {
    subset(labels, k, &mut Rng::new(seed))
}

/// [`stratified_subset`] with an explicit generator.
pub(crate) fn subset(labels: &[u32], k: usize, rng: &mut Rng) -> Vec<usize> {
    let n = labels.len();
    if k >= n {
        return (0..n).collect();
    }
    // A map rather than a vector indexed by label, so that any label value is safe.
    let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        by_class.entry(l).or_default().push(i);
    }
    let mut members: Vec<Vec<usize>> = by_class.into_values().collect();
    let classes = members.len();

    // Largest remainder: every class first gets the floor of its exact share, then the
    // places left over go to the largest remainders (ties to the lower class).
    let mut quota: Vec<usize> = members.iter().map(|m| m.len() * k / n).collect();
    let mut order: Vec<usize> = (0..classes).collect();
    order.sort_by_key(|&c| std::cmp::Reverse(members[c].len() * k % n));
    let left = k - quota.iter().sum::<usize>();
    for &c in order.iter().take(left) {
        quota[c] += 1;
    }

    let mut chosen = Vec::with_capacity(k);
    for (m, q) in members.iter_mut().zip(quota) {
        rng.shuffle(m);
        chosen.extend_from_slice(&m[..q]);
    }
    chosen.sort_unstable();
    chosen
}

/// A random (not stratified) subset of `k` of `n` indices, sorted.
pub(crate) fn random_subset(n: usize, k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut p = rng.permutation(n);
    p.truncate(k);
    p.sort_unstable();
    p
}

/// Splits `0..labels.len()` into a stratified part of `round(fraction * n)` indices and
/// the rest, both sorted. Returns `(rest, part)`.
pub(crate) fn stratified_split(labels: &[u32], fraction: f64, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
    let n = labels.len();
    let k = ((fraction * n as f64).round() as usize).min(n);
    let part = subset(labels, k, rng);
    (complement(n, &part), part)
}

/// The indices of `0..n` not in the sorted list `taken`.
fn complement(n: usize, taken: &[usize]) -> Vec<usize> {
    let mut rest = Vec::with_capacity(n - taken.len());
    let mut t = taken.iter().peekable();
    for i in 0..n {
        if t.peek() == Some(&&i) {
            t.next();
        } else {
            rest.push(i);
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_follow_the_classes() {
        // 60 of class 0, 30 of class 1, 10 of class 2.
        let labels: Vec<u32> = (0..100)
            .map(|i| {
                if i < 60 {
                    0
                } else if i < 90 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let s = stratified_subset(&labels, 25, 9);
        assert_eq!(s.len(), 25);
        let count = |c| s.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!((count(0), count(1), count(2)), (15, 8, 2));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(stratified_subset(&labels, 500, 9).len(), 100);
        assert!(stratified_subset(&[], 3, 1).is_empty());
    }

    #[test]
    fn split_is_a_partition() {
        let labels: Vec<u32> = (0..37).map(|i| i % 3).collect();
        let (rest, part) = stratified_split(&labels, 0.3, &mut Rng::new(4));
        assert_eq!(part.len(), 11);
        let mut all = [rest, part].concat();
        all.sort_unstable();
        assert_eq!(all, (0..37).collect::<Vec<_>>());
    }
}
