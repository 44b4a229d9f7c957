//! Rows from the recorder summed into what the History tab draws: one total per app for the
//! list (largest first), and per chart slot a stack of the top apps' bytes each way; plus
//! the gaps, the times in the period when the recorder did not run.

use sockeye_protocol::recorder::{ExecutableUsageRow, UsageRow};
use std::collections::HashMap;

use super::period::Slots;

/// Apps that get their own colour in the chart; the others are stacked as one.
pub const TOP_APPS: usize = 5;
/// Layers of one stacked bar: the top apps, then "other apps".
pub const LAYERS: usize = TOP_APPS + 1;

/// One app's totals over the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTotal {
    /// The recorder's key: app id, executable path, `@other-users` or `@system`.
    pub app: String,
    /// The name the recorder recorded (the GUI may show a translated or installed one).
    pub name: String,
    pub received: u64,
    pub sent: u64,
    /// Chart layer (colour) of this app: `0..TOP_APPS`, or `TOP_APPS` for the rest.
    pub layer: usize,
}

impl AppTotal {
    pub fn total(&self) -> u64 {
        self.received.saturating_add(self.sent)
    }
}

/// One slot's bars: bytes per layer, each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotStack {
    pub received: [u64; LAYERS],
    pub sent: [u64; LAYERS],
}

/// Everything the list and the chart show for a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Largest total first; ties by name.
    pub apps: Vec<AppTotal>,
    /// One per slot of the period.
    pub stacks: Vec<SlotStack>,
    pub received: u64,
    pub sent: u64,
}

/// A row of either call, reduced to what the sums need.
pub struct Usage<'a> {
    pub bucket_start: u64,
    pub key: &'a str,
    pub name: &'a str,
    pub sent: u64,
    pub received: u64,
}

impl<'a> From<&'a UsageRow> for Usage<'a> {
    fn from(row: &'a UsageRow) -> Self {
        Usage {
            bucket_start: row.bucket_start,
            key: &row.app,
            name: &row.display_name,
            sent: row.sent_bytes,
            received: row.received_bytes,
        }
    }
}

impl<'a> From<&'a ExecutableUsageRow> for Usage<'a> {
    fn from(row: &'a ExecutableUsageRow) -> Self {
        Usage {
            bucket_start: row.bucket_start,
            key: &row.executable,
            name: row.executable.rsplit('/').next().unwrap_or(&row.executable),
            sent: row.sent_bytes,
            received: row.received_bytes,
        }
    }
}

/// Sums `rows` (every user's rows of one app add up) into a [`Summary`] over `slots`.
/// Rows outside the period are left out.
pub fn summarise<'a>(rows: impl IntoIterator<Item = Usage<'a>>, slots: &Slots) -> Summary {
    let rows: Vec<(usize, Usage<'a>)> = rows
        .into_iter()
        .filter_map(|row| {
            let start = i64::try_from(row.bucket_start).ok()?;
            Some((slots.index_of(start)?, row))
        })
        .collect();
    let mut totals: HashMap<&str, AppTotal> = HashMap::new();
    for (_, row) in &rows {
        let total = totals.entry(row.key).or_insert_with(|| AppTotal {
            app: row.key.to_owned(),
            name: row.name.to_owned(),
            received: 0,
            sent: 0,
            layer: TOP_APPS,
        });
        total.received = total.received.saturating_add(row.received);
        total.sent = total.sent.saturating_add(row.sent);
    }
    let mut apps: Vec<AppTotal> = totals.into_values().collect();
    apps.sort_by(|a, b| {
        b.total()
            .cmp(&a.total())
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.app.cmp(&b.app))
    });
    for (layer, app) in apps.iter_mut().enumerate().take(TOP_APPS) {
        app.layer = layer;
    }
    let layer_of: HashMap<&str, usize> = apps.iter().map(|a| (a.app.as_str(), a.layer)).collect();
    let mut stacks = vec![SlotStack::default(); slots.len()];
    for (slot, row) in &rows {
        let layer = layer_of.get(row.key).copied().unwrap_or(TOP_APPS);
        let stack = &mut stacks[*slot];
        stack.received[layer] = stack.received[layer].saturating_add(row.received);
        stack.sent[layer] = stack.sent[layer].saturating_add(row.sent);
    }
    let received = apps.iter().fold(0u64, |s, a| s.saturating_add(a.received));
    let sent = apps.iter().fold(0u64, |s, a| s.saturating_add(a.sent));
    Summary {
        apps,
        stacks,
        received,
        sent,
    }
}

/// The times in `[from, until)` that no span covers: when the recorder was not running.
/// `spans` are (start, end) in seconds since the epoch, in any order, possibly overlapping.
pub fn gaps(spans: &[(u64, u64)], from: i64, until: i64) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = spans
        .iter()
        .filter_map(|(s, e)| Some((i64::try_from(*s).ok()?, i64::try_from(*e).ok()?)))
        .filter(|(s, e)| s < e)
        .collect();
    spans.sort_unstable();
    let mut gaps = Vec::new();
    let mut cursor = from;
    for (start, end) in spans {
        if start > cursor && cursor < until {
            gaps.push((cursor, start.min(until)));
        }
        cursor = cursor.max(end);
    }
    if cursor < until {
        gaps.push((cursor, until));
    }
    gaps
}
