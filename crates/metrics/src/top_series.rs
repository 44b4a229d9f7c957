//! A bounded set of named series: at most `limit` keys get counters of their own, chosen
//! by recent traffic; what every other key carries is handed back to the caller for an
//! "other" series. This is what keeps the exporter's cardinality bounded whatever number of
//! processes and executables pass by.
//!
//! The rule, and why every exported series only ever grows:
//! - A key's *score* is its bytes with exponential decay (half-life [`HALF_LIFE_S`]): what
//!   it carried recently. Scores only choose; they are never exported.
//! - While fewer than `limit` keys are named, a key with traffic is named at once.
//! - When every place is taken, a key that is not named is a *candidate* (the `limit`
//!   best are remembered). When the best candidate's score is more than [`HYSTERESIS`]
//!   times the lowest named score, that lowest key is *demoted* and the candidate named
//!   (and so on down the candidates). The margin keeps two keys from swapping places
//!   every interval.
//! - A named key's counters only grow. A demoted key's series is left out of the
//!   exposition from then on (it disappears; it never goes down). Its counters are kept
//!   among the last [`RETIRED_PER_PLACE`]` × limit` demoted keys, so a key named again
//!   continues where it stopped; one named again after it was forgotten starts a new series
//!   from zero, which Prometheus reads as a counter reset after a gap.
//! - An interval's bytes go where their key stands at the end of that interval: its own
//!   counters when named, "other" otherwise. Bytes once in "other" stay there (moving them
//!   would make "other" go down). So each byte adds to exactly one series in the interval
//!   it was carried: `sum(rate(...))` or `sum(increase(...))` over all series is exact.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// A hash map seeded at random per map (its keys come from process names and paths).
pub type FastMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;

/// Half-life of a score, in seconds: an application that stopped an hour ago weighs half
/// of what it did.
pub const HALF_LIFE_S: f64 = 3600.0;
/// How much more recent traffic a candidate needs than the lowest named key to replace it.
pub const HYSTERESIS: f64 = 2.0;
/// Demoted keys whose counters are remembered, per named place.
pub const RETIRED_PER_PLACE: usize = 4;

/// One interval's traffic of one key: what to add to its counters, and its weight in
/// the ranking (bytes).
#[derive(Debug, Clone)]
pub struct Delta<K, const N: usize> {
    pub key: K,
    pub counters: [u64; N],
    pub weight: u64,
}

/// A named key: its counters (exported) and its score.
#[derive(Debug, Clone)]
struct Named<const N: usize> {
    counters: [u64; N],
    score: f64,
}

/// At most `limit` named keys with `N` counters each, plus the bookkeeping of the rule.
#[derive(Debug)]
pub struct TopSeries<K, const N: usize> {
    limit: usize,
    named: BTreeMap<K, Named<N>>,
    /// Keys not named, with their scores.
    candidates: FastMap<K, f64>,
    /// Counters of demoted keys, with the order they were demoted in.
    retired: FastMap<K, ([u64; N], u64)>,
    retired_order: BTreeMap<u64, K>,
    retired_count: u64,
}

impl<K: Ord + Hash + Clone, const N: usize> TopSeries<K, N> {
    /// An empty set naming at most `limit` keys (at least one).
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            named: BTreeMap::new(),
            candidates: FastMap::default(),
            retired: FastMap::default(),
            retired_order: BTreeMap::new(),
            retired_count: 0,
        }
    }

    /// Takes one interval's traffic. `elapsed_s` (seconds since the last call) ages the
    /// scores. Returns the deltas of keys that are not named, for "other".
    pub fn observe(&mut self, deltas: Vec<Delta<K, N>>, elapsed_s: f64) -> Vec<(K, [u64; N])> {
        let decay = if elapsed_s.is_finite() && elapsed_s > 0.0 {
            0.5_f64.powf(elapsed_s / HALF_LIFE_S)
        } else {
            1.0
        };
        for named in self.named.values_mut() {
            named.score *= decay;
        }
        for score in self.candidates.values_mut() {
            *score *= decay;
        }
        for delta in &deltas {
            let weight = delta.weight as f64;
            match self.named.get_mut(&delta.key) {
                Some(named) => named.score += weight,
                None => *self.candidates.entry(delta.key.clone()).or_default() += weight,
            }
        }
        self.promote();
        let mut other = Vec::new();
        for delta in deltas {
            match self.named.get_mut(&delta.key) {
                Some(named) => add(&mut named.counters, &delta.counters),
                None => other.push((delta.key, delta.counters)),
            }
        }
        self.trim_candidates();
        other
    }

    /// The named keys and their counters, in key order.
    pub fn named(&self) -> impl Iterator<Item = (&K, &[u64; N])> {
        self.named.iter().map(|(k, n)| (k, &n.counters))
    }

    /// How many keys are named.
    pub fn len(&self) -> usize {
        self.named.len()
    }

    /// Names candidates, best first, into free places and then in place of named keys
    /// they beat by the margin.
    fn promote(&mut self) {
        let mut order: Vec<(K, f64)> = self
            .candidates
            .iter()
            .filter(|(_, score)| **score > 0.0)
            .map(|(k, s)| (k.clone(), *s))
            .collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (key, score) in order {
            if self.named.len() >= self.limit {
                let Some((lowest, lowest_score)) = self.lowest() else {
                    break;
                };
                if score <= HYSTERESIS * lowest_score {
                    break;
                }
                self.demote(lowest, lowest_score);
            }
            self.candidates.remove(&key);
            let counters = self.retired_take(&key).unwrap_or([0; N]);
            self.named.insert(key, Named { counters, score });
        }
    }

    /// The named key with the lowest score (the greatest key among equals, so the order
    /// is stable).
    fn lowest(&self) -> Option<(K, f64)> {
        self.named
            .iter()
            .min_by(|a, b| a.1.score.total_cmp(&b.1.score).then_with(|| b.0.cmp(a.0)))
            .map(|(k, n)| (k.clone(), n.score))
    }

    fn demote(&mut self, key: K, score: f64) {
        if let Some(named) = self.named.remove(&key) {
            self.retire(key.clone(), named.counters);
            self.candidates.insert(key, score);
        }
    }

    fn retire(&mut self, key: K, counters: [u64; N]) {
        let order = self.retired_count;
        self.retired_count += 1;
        self.retired_order.insert(order, key.clone());
        if let Some((_, earlier)) = self.retired.insert(key, (counters, order)) {
            self.retired_order.remove(&earlier);
        }
        while self.retired.len() > self.limit.saturating_mul(RETIRED_PER_PLACE) {
            let Some((_, oldest)) = self.retired_order.pop_first() else {
                break;
            };
            self.retired.remove(&oldest);
        }
    }

    fn retired_take(&mut self, key: &K) -> Option<[u64; N]> {
        let (counters, order) = self.retired.remove(key)?;
        self.retired_order.remove(&order);
        Some(counters)
    }

    /// Keeps the `limit` best candidates (memory stays bounded whatever passes by).
    fn trim_candidates(&mut self) {
        if self.candidates.len() <= self.limit {
            return;
        }
        let mut scores: Vec<f64> = self.candidates.values().copied().collect();
        let cut = scores.len() - self.limit;
        let (_, threshold, _) = scores.select_nth_unstable_by(cut, f64::total_cmp);
        let threshold = *threshold;
        self.candidates.retain(|_, score| *score >= threshold);
        // Ties at the threshold may leave a few more: drop them in any order.
        let excess = self.candidates.len().saturating_sub(self.limit);
        if excess > 0 {
            let ties: Vec<K> = self
                .candidates
                .iter()
                .filter(|(_, score)| **score == threshold)
                .map(|(k, _)| k.clone())
                .take(excess)
                .collect();
            for key in ties {
                self.candidates.remove(&key);
            }
        }
    }
}

/// Adds `more` to `counters`, saturating (a u64 of bytes does not overflow in practice).
pub fn add<const N: usize>(counters: &mut [u64; N], more: &[u64; N]) {
    for (c, m) in counters.iter_mut().zip(more) {
        *c = c.saturating_add(*m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Map;

    fn delta(key: u32, bytes: u64) -> Delta<u32, 1> {
        Delta {
            key,
            counters: [bytes],
            weight: bytes,
        }
    }

    fn named(set: &TopSeries<u32, 1>) -> Map<u32, u64> {
        set.named().map(|(k, c)| (*k, c[0])).collect()
    }

    #[test]
    fn keys_are_named_while_there_is_room() {
        let mut set = TopSeries::new(2);
        let other = set.observe(vec![delta(1, 10), delta(2, 5), delta(3, 1)], 1.0);
        assert_eq!(named(&set), Map::from([(1, 10), (2, 5)]));
        assert_eq!(other, vec![(3, [1])]);
    }

    #[test]
    fn a_much_busier_key_replaces_the_quietest_and_both_series_stay_monotonic() {
        let mut set = TopSeries::new(2);
        set.observe(vec![delta(1, 100), delta(2, 100)], 1.0);
        // Key 3 carries a little more than key 2: not enough to replace it.
        let other = set.observe(vec![delta(3, 150)], 1.0);
        assert_eq!(other, vec![(3, [150])]);
        assert_eq!(named(&set), Map::from([(1, 100), (2, 100)]));
        // Now it carries far more: it takes the place of the quietest (2, as 1 carried a
        // little), and this interval's bytes are its own.
        let other = set.observe(vec![delta(3, 1000), delta(1, 7)], 1.0);
        assert!(other.is_empty());
        assert_eq!(named(&set), Map::from([(1, 107), (3, 1000)]));
        // The demoted key's bytes go to other; its series is gone, not lowered.
        let other = set.observe(vec![delta(2, 7)], 1.0);
        assert_eq!(other, vec![(2, [7])]);
        // Key 2 comes back busier than anyone: its series continues from 100.
        set.observe(vec![delta(2, 10_000)], 1.0);
        assert_eq!(named(&set), Map::from([(2, 10_100), (3, 1000)]));
    }

    #[test]
    fn idle_keys_decay_and_make_room() {
        let mut set = TopSeries::new(1);
        set.observe(vec![delta(1, 1_000_000)], 1.0);
        // Ten half-lives later, a small newcomer outweighs the idle key.
        let other = set.observe(vec![delta(2, 5_000)], 10.0 * HALF_LIFE_S);
        assert!(other.is_empty());
        assert_eq!(named(&set), Map::from([(2, 5_000)]));
    }

    #[test]
    fn memory_stays_bounded_whatever_passes_by() {
        let mut set = TopSeries::new(10);
        for round in 0..100u32 {
            let deltas = (0..1000).map(|i| delta(round * 1000 + i, u64::from(i % 97 + 1)));
            set.observe(deltas.collect(), 1.0);
            assert!(set.len() <= 10);
            assert!(set.candidates.len() <= 10);
            assert!(set.retired.len() <= 10 * RETIRED_PER_PLACE);
            assert_eq!(set.retired.len(), set.retired_order.len());
        }
    }

    #[test]
    fn named_counters_never_decrease_and_nothing_is_lost() {
        // A pseudo-random churn: every series is checked after each interval.
        let mut set = TopSeries::new(5);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut last: Map<u32, u64> = Map::new();
        let (mut fed, mut other_total) = (0u64, 0u64);
        for _ in 0..2000 {
            let mut deltas = Vec::new();
            for _ in 0..8 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // 25 keys: 5 named and 20 remembered, so no counter is forgotten here.
                let key = (state % 25) as u32;
                let bytes = (state >> 20) % 10_000;
                if !deltas.iter().any(|d: &Delta<u32, 1>| d.key == key) {
                    fed += bytes;
                    deltas.push(delta(key, bytes));
                }
            }
            let elapsed = (state >> 40) as f64 % 600.0;
            for (_, [bytes]) in set.observe(deltas, elapsed) {
                other_total += bytes;
            }
            let now = named(&set);
            for (key, value) in &now {
                if let Some(before) = last.get(key) {
                    assert!(value >= before, "key {key} went from {before} to {value}");
                }
            }
            last.extend(now);
        }
        let named_total: u64 = set.named().map(|(_, c)| c[0]).sum::<u64>()
            + set.retired.values().map(|(c, _)| c[0]).sum::<u64>();
        assert_eq!(named_total + other_total, fed, "every byte is somewhere");
    }
}
