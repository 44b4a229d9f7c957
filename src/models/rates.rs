//! Turning monotonic counters into rates, and keeping a fixed-length history of rates for
//! the charts.

use std::collections::VecDeque;

/// Bytes per second between two readings of a counter taken `elapsed_s` seconds apart.
/// A counter that went backwards (reset, interface re-created) counts as no traffic, and so
/// does a non-positive interval.
pub fn rate(previous: u64, current: u64, elapsed_s: f64) -> f64 {
    if elapsed_s <= 0.0 || !elapsed_s.is_finite() || current < previous {
        return 0.0;
    }
    (current - previous) as f64 / elapsed_s
}

/// The last `capacity` (download, upload) rates, oldest first, in bytes per second.
#[derive(Debug, Clone, PartialEq)]
pub struct RateHistory {
    capacity: usize,
    samples: VecDeque<(f64, f64)>,
}

impl RateHistory {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            samples: VecDeque::with_capacity(capacity.max(1)),
        }
    }

    /// Adds a sample, dropping the oldest when full.
    pub fn push(&mut self, download: f64, upload: f64) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back((download, upload));
    }

    pub fn samples(&self) -> impl ExactSizeIterator<Item = (f64, f64)> + '_ {
        self.samples.iter().copied()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The largest single rate in either direction (0 when empty).
    pub fn peak(&self) -> f64 {
        self.samples
            .iter()
            .fold(0.0_f64, |m, (d, u)| m.max(*d).max(*u))
    }

    /// Whether every sample is zero (nothing to draw).
    pub fn is_flat(&self) -> bool {
        self.peak() <= 0.0
    }

    /// Element-wise sum of several histories, aligned on their newest samples.
    pub fn sum<'a>(capacity: usize, histories: impl IntoIterator<Item = &'a RateHistory>) -> Self {
        let mut acc = vec![(0.0, 0.0); capacity];
        let mut longest = 0;
        for h in histories {
            let n = h.len().min(capacity);
            longest = longest.max(n);
            for (i, (d, u)) in h.samples.iter().rev().take(n).enumerate() {
                let slot = &mut acc[capacity - 1 - i];
                slot.0 += d;
                slot.1 += u;
            }
        }
        Self {
            capacity,
            samples: acc.into_iter().skip(capacity - longest).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_bytes_per_second_over_the_interval() {
        assert_eq!(rate(1_000, 3_000, 2.0), 1_000.0);
        assert_eq!(rate(0, 500, 0.5), 1_000.0);
    }

    #[test]
    fn a_counter_going_backwards_or_a_zero_interval_is_no_traffic() {
        assert_eq!(rate(5_000, 10, 1.0), 0.0);
        assert_eq!(rate(0, 10, 0.0), 0.0);
        assert_eq!(rate(0, 10, f64::NAN), 0.0);
    }

    #[test]
    fn history_keeps_only_the_newest_samples() {
        let mut h = RateHistory::new(3);
        for i in 0..5 {
            h.push(f64::from(i), 0.0);
        }
        assert_eq!(
            h.samples().map(|s| s.0).collect::<Vec<_>>(),
            vec![2.0, 3.0, 4.0]
        );
        assert_eq!(h.peak(), 4.0);
    }

    #[test]
    fn history_sum_aligns_on_the_newest_samples() {
        let mut a = RateHistory::new(4);
        a.push(1.0, 10.0);
        a.push(2.0, 20.0);
        let mut b = RateHistory::new(4);
        b.push(5.0, 0.0);
        let sum = RateHistory::sum(4, [&a, &b]);
        assert_eq!(
            sum.samples().collect::<Vec<_>>(),
            vec![(1.0, 10.0), (7.0, 20.0)]
        );
    }
}
