//! When to look up the owner of a flow's ends: due ends only (growing retry delays),
//! within budgets (flows this machine starts, flows that came in, retries); locality
//! checked again for ends not (yet) known as local.

use crate::accounting::flows::{Endpoint, Flow, FlowKey};
use crate::owner::OwnerLookup;
use crate::parse::PacketKind;
use crate::snapshot::CaptureTotals;
use crate::Transport;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Token bucket limiting owner lookups.
#[derive(Debug)]
pub(super) struct LookupBudget {
    pub tokens: f64,
    pub per_second: f64,
    pub burst: f64,
    pub last: Instant,
}

impl LookupBudget {
    pub fn new(per_second: f64, burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            per_second,
            burst,
            last: now,
        }
    }

    pub(super) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What a lookup round needs besides the flow.
pub(super) struct Context<'a, O: OwnerLookup> {
    pub owners: &'a mut O,
    /// For first lookups of an endpoint of a flow this machine started (its first packet
    /// came from a local address).
    pub budget: &'a mut LookupBudget,
    /// For first lookups of an endpoint of a flow that came in from a remote address.
    pub inbound_budget: &'a mut LookupBudget,
    /// For retries.
    pub retry_budget: &'a mut LookupBudget,
    pub retry: &'a [Duration],
    pub totals: &'a mut CaptureTotals,
}

/// Whether an end of `flow` waits for a lookup at `now`.
pub(super) fn any_due(flow: &Flow, now: Instant) -> bool {
    flow.ends
        .iter()
        .any(|end| end.owner.is_none() && !end.kernel && now >= end.next_lookup)
}

/// Queues `key` for a lookup after catching up, forgetting the oldest beyond `capacity`.
pub(super) fn queue(deferred: &mut VecDeque<FlowKey>, key: FlowKey, capacity: usize) {
    if deferred.len() >= capacity {
        deferred.pop_front();
    }
    deferred.push_back(key);
}

/// Which ends a lookup round found, which local ends it looked up in vain, and which
/// unsure ends it still did not find local.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Round {
    pub found: [bool; 2],
    pub missed: [bool; 2],
    pub unsure: [bool; 2],
}

/// Looks up the owners of the due ends among `sides`.
pub(super) fn look_up_due_ends<O: OwnerLookup>(
    flow: &mut Flow,
    key: &FlowKey,
    sides: [usize; 2],
    now: Instant,
    cx: &mut Context<'_, O>,
) -> Round {
    let inbound = flow.inbound;
    let mut round = Round::default();
    for side in sides {
        let end = &mut flow.ends[side];
        if end.owner.is_some() || now < end.next_lookup || end.kernel {
            continue;
        }
        let delay = cx.retry.get(usize::from(end.misses)).or(cx.retry.last());
        let next = now + delay.copied().unwrap_or(Duration::from_millis(200));
        if !end.local {
            end.local = cx.owners.is_local(key.addr(side).ip());
            if !end.local {
                end.next_lookup = next;
                end.misses = end.misses.saturating_add(1);
                if end.unsure && usize::from(end.misses) > cx.retry.len() {
                    end.unsure = false;
                    super::credit::forget_set_aside(flow, side);
                } else if end.unsure {
                    round.unsure[side] = true;
                }
                continue;
            }
            end.unsure = false;
            end.misses = 0;
        }
        let budget = match (end.misses, inbound) {
            (0, false) => &mut *cx.budget,
            (0, true) => &mut *cx.inbound_budget,
            _ => &mut *cx.retry_budget,
        };
        if !budget.take(now) {
            cx.totals.lookups_deferred += 1;
            continue;
        }
        cx.totals.owner_lookups += 1;
        end.owner = cx
            .owners
            .owner(key.transport, key.addr(side), key.addr(1 - side));
        end.next_lookup = next;
        end.misses = end.misses.saturating_add(1);
        match end.owner {
            Some(_) => round.found[side] = true,
            None => {
                cx.totals.owner_misses += 1;
                round.missed[side] = true;
            }
        }
    }
    round
}

/// Retries of unknown local ends due at a time, independent of packets (a connection of
/// a millisecond has no later packet to trigger one). One FIFO per back-off step: all
/// entries of a step wait the same delay, so each FIFO is in due order.
#[derive(Debug, Default)]
pub(super) struct RetryQueue {
    steps: Vec<VecDeque<(Instant, FlowKey)>>,
}

impl RetryQueue {
    /// After a round on `flow`, schedules another try for each end marked in `ends` (local
    /// ends it missed, or unsure ends it did not find local) at the time the back-off
    /// allows (`next_lookup`), until the last step of `retry` has been tried;
    /// each step holds at most `capacity` flows, the oldest dropped beyond.
    pub fn schedule(
        &mut self,
        flow: &Flow,
        key: FlowKey,
        ends: [bool; 2],
        retry: &[Duration],
        capacity: usize,
    ) {
        for (end, due) in flow.ends.iter().zip(ends) {
            let misses = usize::from(end.misses);
            if !due || end.kernel || misses == 0 || misses > retry.len() {
                continue;
            }
            if self.steps.len() < retry.len() {
                self.steps.resize_with(retry.len(), VecDeque::new);
            }
            if let Some(fifo) = self.steps.get_mut(misses - 1) {
                if fifo.len() >= capacity.max(1) {
                    fifo.pop_front();
                }
                fifo.push_back((end.next_lookup, key));
            }
        }
    }

    /// The next retry due at `now`, taken off its queue.
    pub fn pop_due(&mut self, now: Instant) -> Option<FlowKey> {
        let fifo = self
            .steps
            .iter_mut()
            .filter(|fifo| fifo.front().is_some_and(|(at, _)| *at <= now))
            .min_by_key(|fifo| fifo.front().map(|(at, _)| *at))?;
        fifo.pop_front().map(|(_, key)| key)
    }

    /// Whether a retry is due at `now`.
    pub fn any_due(&self, now: Instant) -> bool {
        self.steps
            .iter()
            .any(|fifo| fifo.front().is_some_and(|(at, _)| *at <= now))
    }

    pub fn is_empty(&self) -> bool {
        self.steps.iter().all(VecDeque::is_empty)
    }

    /// Number of retries waiting.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.steps.iter().map(VecDeque::len).sum()
    }
}

/// Queues what a round left to try again: owner lookups of the local ends it missed in
/// `queues[0]`, locality checks of the unsure ends in `queues[1]`.
pub(super) fn schedule_round(
    queues: [&mut RetryQueue; 2],
    flow: &Flow,
    key: FlowKey,
    round: Round,
    config: &super::AccountingConfig,
) {
    let [retries, rechecks] = queues;
    let (retry, capacity) = (&config.retry[..], config.deferred_capacity);
    retries.schedule(flow, key, round.missed, retry, capacity);
    rechecks.schedule(flow, key, round.unsure, retry, capacity);
}

/// A new flow whose first packet came from side `src`: which ends are local, which can
/// have an owner, and whether it came in from a remote address.
pub(super) fn new_flow<O: OwnerLookup>(
    key: &FlowKey,
    src: usize,
    kind: PacketKind,
    owners: &O,
    now: Instant,
) -> Flow {
    let echo = matches!(kind, PacketKind::EchoRequest | PacketKind::EchoReply);
    // ICMP other than echo (unreachable, neighbour discovery, MLD…) is the kernel's own:
    // a raw ICMP socket receives copies of it but did not cause it.
    let kernel_icmp = key.transport == Transport::Icmp && !echo;
    let end = |side: usize| {
        let local = owners.is_local(key.addr(side).ip());
        // The responder of an ICMP echo is the kernel, never a socket.
        let kernel = kernel_icmp || (echo && side == 1);
        Endpoint {
            local,
            unsure: !local && !kernel,
            kernel,
            owner: None,
            next_lookup: now,
            misses: 0,
        }
    };
    let mut flow = Flow::new([end(0), end(1)], now);
    flow.inbound = flow.ends.get(src).is_some_and(|end| !end.local);
    flow.tunnel = super::tunnels::is_kernel_tunnel(key, owners);
    flow
}
