//! Local midnight of a moment, through the C library's time zone rules (`TZ`,
//! `/etc/localtime`): day rows start where the user's day starts.

/// Start of the local day that holds `time`, in seconds since the epoch. When the C library
/// cannot convert the time, the UTC day.
pub fn local_midnight(time: u64) -> u64 {
    let utc_day = time - time % crate::usage::DAY_S;
    let Ok(t) = libc::time_t::try_from(time) else {
        return utc_day;
    };
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct (integers and a
    // nullable pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the thread-safe variant
    // and writes only into `tm`.
    let converted = unsafe { libc::localtime_r(&t, &mut tm) };
    if converted.is_null() {
        return utc_day;
    }
    let since_midnight =
        i64::from(tm.tm_hour) * 3600 + i64::from(tm.tm_min) * 60 + i64::from(tm.tm_sec);
    u64::try_from(i64::try_from(time).unwrap_or(i64::MAX) - since_midnight).unwrap_or(utc_day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_is_at_most_a_day_before_and_its_own_midnight() {
        for time in [0_u64, 1_765_000_000, 1_765_086_399, 1_800_000_123] {
            let midnight = local_midnight(time);
            assert!(midnight <= time && time - midnight < 86_400 + 3600);
            assert_eq!(local_midnight(midnight), midnight);
        }
    }
}
