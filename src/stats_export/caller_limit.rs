//! How often each caller may ask `Stats1.GetStats`: a token bucket per D-Bus sender, so a
//! script polling in a loop cannot keep the GTK main thread busy encoding and sending the
//! table, while every well-behaved caller (a few calls a second at most) never notices.

use std::collections::HashMap;
use std::time::Instant;

/// Calls a caller may make in a row before it must slow down.
pub const BURST: f64 = 10.0;
/// Calls per second a caller may keep up (the table changes once per update interval,
/// 1 s by default: asking more often brings nothing new).
pub const CALLS_PER_SECOND: f64 = 10.0;
/// Callers remembered at most. A caller whose bucket is full again is forgotten first
/// (it is as if new); beyond this many callers that all asked within the last second, a new
/// one is refused until some slow down.
pub const MAX_CALLERS: usize = 256;

/// The calls each caller has left, by its unique bus name.
#[derive(Debug, Default)]
pub struct CallerLimit {
    callers: HashMap<String, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Calls left, up to [`BURST`].
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * CALLS_PER_SECOND).min(BURST);
        self.at = now;
    }
}

impl CallerLimit {
    /// Whether `caller` may be answered now; counts the call when it may.
    pub fn allow(&mut self, caller: &str, now: Instant) -> bool {
        if !self.callers.contains_key(caller) && self.callers.len() >= MAX_CALLERS {
            self.callers.retain(|_, bucket| {
                bucket.refill(now);
                bucket.tokens < BURST
            });
            if self.callers.len() >= MAX_CALLERS {
                return false;
            }
        }
        let bucket = self.callers.entry(caller.to_owned()).or_insert(Bucket {
            tokens: BURST,
            at: now,
        });
        bucket.refill(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Callers remembered now.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.callers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_caller_gets_a_burst_then_the_steady_rate() {
        let mut limit = CallerLimit::default();
        let start = Instant::now();
        let allowed = (0..30).filter(|_| limit.allow(":1.5", start)).count();
        assert_eq!(allowed, BURST as usize);
        // A tenth of a second later: one more call at 10/s.
        let later = start + Duration::from_millis(100);
        assert!(limit.allow(":1.5", later));
        assert!(!limit.allow(":1.5", later));
    }

    #[test]
    fn one_caller_asking_too_often_does_not_limit_another() {
        let mut limit = CallerLimit::default();
        let now = Instant::now();
        while limit.allow(":1.5", now) {}
        assert!(limit.allow(":1.6", now));
    }

    #[test]
    fn a_caller_once_a_second_is_never_refused() {
        let mut limit = CallerLimit::default();
        let start = Instant::now();
        assert!((0..100).all(|s| limit.allow(":1.5", start + Duration::from_secs(s))));
    }

    #[test]
    fn callers_are_remembered_within_a_bound_and_idle_ones_forgotten_first() {
        let mut limit = CallerLimit::default();
        let start = Instant::now();
        for i in 0..MAX_CALLERS {
            assert!(limit.allow(&format!(":1.{i}"), start));
        }
        // All asked just now: a new caller waits.
        assert!(!limit.allow(":2.0", start));
        assert_eq!(limit.remembered(), MAX_CALLERS);
        // A second later every bucket is full again: those callers are forgotten.
        let later = start + Duration::from_secs(1);
        assert!(limit.allow(":2.0", later));
        assert_eq!(limit.remembered(), 1);
    }
}
