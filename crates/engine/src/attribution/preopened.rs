//! A tracepoint log opened while the process still had the privilege to (the helper opens
//! each before it drops its capabilities and forbids `perf_event_open`), kept for the next
//! [`super::SystemOwners`] of the process, and given back to it when that one is dropped.

use std::sync::Mutex;

/// At most one `T` waiting for its next user.
pub(in crate::attribution) struct Preopened<T>(Mutex<Option<T>>);

impl<T> Preopened<T> {
    pub(in crate::attribution) const fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// Keeps `log` for the next [`Self::take`] (replacing any kept before).
    pub(in crate::attribution) fn keep(&self, log: T) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(log);
        }
    }

    /// The kept log, if any; the slot is empty afterwards.
    pub(in crate::attribution) fn take(&self) -> Option<T> {
        self.0.lock().ok()?.take()
    }

    /// Closes the kept log: the next user opens its own, with the privilege it has then.
    pub(in crate::attribution) fn discard(&self) {
        drop(self.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_value_is_taken_once_and_a_discarded_one_is_gone() {
        let slot: Preopened<u32> = Preopened::new();
        assert_eq!(slot.take(), None);
        slot.keep(1);
        slot.keep(2);
        assert_eq!(slot.take(), Some(2));
        assert_eq!(slot.take(), None);
        slot.keep(3);
        slot.discard();
        assert_eq!(slot.take(), None);
    }
}
