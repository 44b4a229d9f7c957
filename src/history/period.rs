//! The periods the History tab shows (Today, Yesterday, This week, Last 7 days, This month,
//! Last 30 days, and the ones before them) as slots of local time: hours for one day, days
//! otherwise. Local days are computed with GLib's `DateTime`, so a day with a daylight
//! saving change has 23 or 25 hours and every slot starts on a local wall-clock boundary.

use gettextrs::gettext;
use gtk::glib::{self, DateTime, TimeZone};

/// Which kind of period is picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    Today,
    Yesterday,
    ThisWeek,
    Last7Days,
    ThisMonth,
    Last30Days,
}

impl PeriodKind {
    /// In the order the period picker lists them.
    pub const ALL: [PeriodKind; 6] = [
        PeriodKind::Today,
        PeriodKind::Yesterday,
        PeriodKind::ThisWeek,
        PeriodKind::Last7Days,
        PeriodKind::ThisMonth,
        PeriodKind::Last30Days,
    ];

    /// The name in `win.history-period`: `today`, `last-7-days`, …
    pub fn name(self) -> &'static str {
        match self {
            PeriodKind::Today => "today",
            PeriodKind::Yesterday => "yesterday",
            PeriodKind::ThisWeek => "this-week",
            PeriodKind::Last7Days => "last-7-days",
            PeriodKind::ThisMonth => "this-month",
            PeriodKind::Last30Days => "last-30-days",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The picker's label.
    pub fn label(self) -> String {
        match self {
            PeriodKind::Today => gettext("Today"),
            PeriodKind::Yesterday => gettext("Yesterday"),
            PeriodKind::ThisWeek => gettext("This Week"),
            PeriodKind::Last7Days => gettext("Last 7 Days"),
            PeriodKind::ThisMonth => gettext("This Month"),
            PeriodKind::Last30Days => gettext("Last 30 Days"),
        }
    }

    /// Whether one slot of the chart is an hour (else a day).
    pub fn by_hour(self) -> bool {
        matches!(self, PeriodKind::Today | PeriodKind::Yesterday)
    }
}

/// Length of one chart slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    /// The `bucket_s` argument of `GetUsage`, in seconds. Day rows may start at a local
    /// midnight that is not a multiple of 86,400 s: rows are placed by [`Slots::index_of`].
    pub fn seconds(self) -> u32 {
        match self {
            Bucket::Hour => 3600,
            Bucket::Day => 86_400,
        }
    }
}

/// A picked period: its kind and how many periods back (0 = the current one, -1 the one
/// before, …). Never in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub kind: PeriodKind,
    pub offset: i32,
}

/// The slots of a period: `starts[i]..starts[i + 1]` is slot `i`, in seconds since the epoch;
/// the last entry is the period's end.
#[derive(Debug, Clone)]
pub struct Slots {
    pub bucket: Bucket,
    pub starts: Vec<i64>,
    /// Local time zone the slots were made in (for labels).
    pub tz: TimeZone,
}

impl Slots {
    pub fn start(&self) -> i64 {
        self.starts.first().copied().unwrap_or(0)
    }

    pub fn end(&self) -> i64 {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot holding the instant `t` (seconds since the epoch), if inside the period.
    pub fn index_of(&self, t: i64) -> Option<usize> {
        if t < self.start() || t >= self.end() {
            return None;
        }
        Some(self.starts.partition_point(|s| *s <= t) - 1)
    }

    /// Local date and time of the start of slot `i`.
    pub fn local(&self, i: usize) -> Option<DateTime> {
        local_time(*self.starts.get(i)?, &self.tz)
    }
}

/// `t` (seconds since the epoch) in the time zone `tz`.
pub fn local_time(t: i64, tz: &TimeZone) -> Option<DateTime> {
    DateTime::from_unix_utc(t).ok()?.to_timezone(tz).ok()
}

/// The first day of the week: Monday (ISO 8601). GLib does not expose the locale's first
/// weekday, and Monday is what most locales use.
const WEEK_STARTS_ON_ISO_DAY: i32 = 1;

impl Period {
    pub fn current(kind: PeriodKind) -> Self {
        Self { kind, offset: 0 }
    }

    /// The period before (`-1`) or after (`+1`) this one; never after the current one.
    pub fn shifted(self, by: i32) -> Self {
        Self {
            kind: self.kind,
            offset: (self.offset + by).min(0),
        }
    }

    /// The period's slots, for `now` in the time zone of `now`.
    pub fn slots(self, now: &DateTime) -> Result<Slots, glib::BoolError> {
        let tz = now.timezone();
        let (y, m, d) = now.ymd();
        let midnight = DateTime::new(&tz, y, m, d, 0, 0, 0.0)?;
        let (first, days) = match self.kind {
            PeriodKind::Today => (midnight.add_days(self.offset)?, 1),
            PeriodKind::Yesterday => (midnight.add_days(self.offset - 1)?, 1),
            PeriodKind::ThisWeek => {
                let back = (now.day_of_week() - WEEK_STARTS_ON_ISO_DAY).rem_euclid(7);
                (midnight.add_days(-back + 7 * self.offset)?, 7)
            }
            PeriodKind::Last7Days => (midnight.add_days(-6 + 7 * self.offset)?, 7),
            PeriodKind::ThisMonth => {
                let first = DateTime::new(&tz, y, m, 1, 0, 0, 0.0)?.add_months(self.offset)?;
                let next = first.add_months(1)?;
                // Rounded to whole days: a month with a daylight saving change is an hour
                // longer or shorter.
                let days = (next.to_unix() - first.to_unix() + 43_200) / 86_400;
                (first, i32::try_from(days).unwrap_or(31))
            }
            PeriodKind::Last30Days => (midnight.add_days(-29 + 30 * self.offset)?, 30),
        };
        let end = first.add_days(days)?.to_unix();
        let (bucket, starts) = if self.kind.by_hour() {
            let starts: Vec<i64> = (0..)
                .map(|h| first.to_unix() + 3600 * h)
                .take_while(|t| *t < end)
                .chain(std::iter::once(end))
                .collect();
            (Bucket::Hour, starts)
        } else {
            let starts = (0..=days)
                .map(|i| first.add_days(i).map(|d| d.to_unix()))
                .collect::<Result<Vec<_>, _>>()?;
            (Bucket::Day, starts)
        };
        Ok(Slots { bucket, starts, tz })
    }

    /// The period as a title: "Today", "Yesterday", or its dates for earlier ones.
    pub fn title(self, slots: &Slots) -> String {
        match (self.kind, self.offset) {
            (PeriodKind::Today, 0) => return gettext("Today"),
            (PeriodKind::Yesterday, 0) | (PeriodKind::Today, -1) => return gettext("Yesterday"),
            _ => {}
        }
        let first = slots.local(0);
        let last = local_time(slots.end() - 1, &slots.tz);
        let (Some(first), Some(last)) = (first, last) else {
            return self.kind.label();
        };
        match self.kind {
            // Translators: a day's title, as GLib's strftime format: "Monday, 12/07/2026".
            PeriodKind::Today | PeriodKind::Yesterday => format_date(&first, &gettext("%A, %x")),
            // Translators: a month's title, as GLib's strftime format: "December 2026".
            PeriodKind::ThisMonth => format_date(&first, &gettext("%OB %Y")),
            _ => gettext("{first} – {last}")
                .replacen("{first}", &format_date(&first, "%x"), 1)
                .replacen("{last}", &format_date(&last, "%x"), 1),
        }
    }
}

/// `date` written with a strftime-like GLib format; empty if the format is refused.
pub fn format_date(date: &DateTime, format: &str) -> String {
    date.format(format)
        .map(|s| s.to_string())
        .unwrap_or_default()
}
