//! A database that cannot be opened, fails its integrity check or has a schema that is not
//! ours is moved aside — kept, with the date in its name — and a new one started.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `history.sqlite` → `history.sqlite.broken-20261207T061500Z`, and its `-wal` and `-shm`
/// files beside it. Returns the new name of the main file.
pub fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = utc_stamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    let mut target = PathBuf::from(format!("{}.broken-{stamp}", path.display()));
    let mut n = 1;
    while target.exists() {
        target = PathBuf::from(format!("{}.broken-{stamp}-{n}", path.display()));
        n += 1;
    }
    std::fs::rename(path, &target)?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            std::fs::rename(&side, format!("{}{suffix}", target.display()))?;
        }
    }
    Ok(target)
}

/// `YYYYMMDDTHHMMSSZ` of a UTC time (Howard Hinnant's days-to-civil algorithm).
pub fn utc_stamp(time: u64) -> String {
    let days = (time / 86_400) as i64;
    let rest = time % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_dates() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(1_765_087_199), "20251207T055959Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
    }
}
