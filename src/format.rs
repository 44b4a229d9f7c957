//! Human-readable amounts and rates (bytes or bits, SI multiples) written with the locale's
//! decimal point and digit grouping.

use gettextrs::gettext;

/// Whether amounts are shown in bytes or in bits (the `units` preference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Units {
    #[default]
    Bytes,
    Bits,
}

impl Units {
    /// The GSettings enum nick.
    pub fn nick(self) -> &'static str {
        match self {
            Units::Bytes => "bytes",
            Units::Bits => "bits",
        }
    }

    /// Parses a GSettings nick; anything unknown means bytes.
    pub fn from_nick(nick: &str) -> Self {
        if nick == "bits" {
            Units::Bits
        } else {
            Units::Bytes
        }
    }
}

/// The locale's way of writing numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberFormat {
    pub decimal_point: String,
    pub thousands_separator: String,
}

impl Default for NumberFormat {
    /// The C locale: `1234.5`.
    fn default() -> Self {
        Self {
            decimal_point: ".".into(),
            thousands_separator: String::new(),
        }
    }
}

impl NumberFormat {
    /// Reads `LC_NUMERIC` of the current locale (`setlocale` has run in `main`).
    pub fn from_locale() -> Self {
        // rustix has no localeconv: libc it is. localeconv returns a pointer to static storage
        // that stays valid until the next setlocale/localeconv call; we copy the strings out
        // at once, on the main thread.
        let read = |ptr: *const libc::c_char| -> Option<String> {
            if ptr.is_null() {
                return None;
            }
            // SAFETY: a non-null field of the lconv just returned: a NUL-terminated string.
            unsafe { std::ffi::CStr::from_ptr(ptr) }
                .to_str()
                .ok()
                .map(str::to_owned)
        };
        // SAFETY: localeconv takes no arguments and returns static storage (or null).
        let conv = unsafe { libc::localeconv() };
        if conv.is_null() {
            return Self::default();
        }
        // SAFETY: `conv` is non-null and points at the lconv localeconv just filled.
        let (decimal, thousands) = unsafe { ((*conv).decimal_point, (*conv).thousands_sep) };
        Self {
            decimal_point: read(decimal)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| ".".into()),
            thousands_separator: read(thousands).unwrap_or_default(),
        }
    }

    /// Writes `value` with `decimals` digits after the decimal point, grouping thousands.
    pub fn number(&self, value: f64, decimals: usize) -> String {
        let value = if value.is_finite() { value } else { 0.0 };
        let plain = format!("{:.*}", decimals, value.abs());
        let (int_part, frac_part) = match plain.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (plain.as_str(), None),
        };
        let mut out = String::new();
        if value < 0.0 && plain.chars().any(|c| c != '0' && c != '.') {
            out.push('-');
        }
        let digits = int_part.len();
        for (i, ch) in int_part.chars().enumerate() {
            if i > 0 && (digits - i) % 3 == 0 {
                out.push_str(&self.thousands_separator);
            }
            out.push(ch);
        }
        if let Some(frac) = frac_part {
            out.push_str(&self.decimal_point);
            out.push_str(frac);
        }
        out
    }

    /// A whole number with digit grouping: `12,345`.
    pub fn count(&self, value: u64) -> String {
        // Precision is fine up to 2^53, far beyond any packet count we show.
        self.number(value as f64, 0)
    }

    /// A percentage with one decimal: `99.8%`.
    pub fn percent(&self, fraction: f64) -> String {
        // Translators: a percentage; {} is the number.
        gettext("{}%").replacen("{}", &self.number(fraction * 100.0, 1), 1)
    }

    /// An amount of data: `bytes` in bytes, shown in `units`, e.g. `1.4 GB` or `11 Gbit`.
    pub fn amount(&self, bytes: u64, units: Units) -> String {
        let (value, unit) = scale(bytes as f64, units, false);
        self.with_unit(value, unit)
    }

    /// A rate: `bytes_per_second` in bytes per second, e.g. `3.2 MB/s` or `26 Mbit/s`.
    pub fn rate(&self, bytes_per_second: f64, units: Units) -> String {
        let (value, unit) = scale(bytes_per_second.max(0.0), units, true);
        self.with_unit(value, unit)
    }

    fn with_unit(&self, value: f64, unit: Unit) -> String {
        let decimals = if unit.exponent == 0 || value >= 100.0 {
            0
        } else {
            1
        };
        // Translators: an amount and its unit, e.g. "3.2 MB/s"; keep the order that reads
        // naturally in your language.
        gettext("{value} {unit}")
            .replacen("{value}", &self.number(value, decimals), 1)
            .replacen("{unit}", &unit.label(), 1)
    }
}

/// A unit after scaling: bytes or bits, SI exponent (0 = none, 1 = kilo, …), per second or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unit {
    units: Units,
    exponent: usize,
    per_second: bool,
}

impl Unit {
    fn label(self) -> String {
        // Written out so xgettext finds every unit.
        let base = match (self.units, self.exponent) {
            (Units::Bytes, 0) => gettext("B"),
            (Units::Bytes, 1) => gettext("kB"),
            (Units::Bytes, 2) => gettext("MB"),
            (Units::Bytes, 3) => gettext("GB"),
            (Units::Bytes, 4) => gettext("TB"),
            (Units::Bytes, _) => gettext("PB"),
            (Units::Bits, 0) => gettext("bit"),
            (Units::Bits, 1) => gettext("kbit"),
            (Units::Bits, 2) => gettext("Mbit"),
            (Units::Bits, 3) => gettext("Gbit"),
            (Units::Bits, 4) => gettext("Tbit"),
            (Units::Bits, _) => gettext("Pbit"),
        };
        if self.per_second {
            // Translators: a unit per second, e.g. "MB/s".
            gettext("{}/s").replacen("{}", &base, 1)
        } else {
            base
        }
    }
}

/// Scales a byte quantity to the largest SI multiple that keeps it at or above 1.
fn scale(bytes: f64, units: Units, per_second: bool) -> (f64, Unit) {
    let mut value = match units {
        Units::Bytes => bytes,
        Units::Bits => bytes * 8.0,
    };
    let mut exponent = 0;
    // 999.95 rounds to "1000.0": move up a unit before that happens.
    while value >= 999.5 && exponent < 5 {
        value /= 1000.0;
        exponent += 1;
    }
    (
        value,
        Unit {
            units,
            exponent,
            per_second,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c_locale() -> NumberFormat {
        NumberFormat::default()
    }

    fn german() -> NumberFormat {
        NumberFormat {
            decimal_point: ",".into(),
            thousands_separator: ".".into(),
        }
    }

    #[test]
    fn small_byte_rates_are_whole_bytes() {
        assert_eq!(c_locale().rate(0.0, Units::Bytes), "0 B/s");
        assert_eq!(c_locale().rate(512.4, Units::Bytes), "512 B/s");
    }

    #[test]
    fn rates_scale_to_si_multiples_with_one_decimal_below_one_hundred() {
        assert_eq!(c_locale().rate(1_500.0, Units::Bytes), "1.5 kB/s");
        assert_eq!(c_locale().rate(3_210_000.0, Units::Bytes), "3.2 MB/s");
        assert_eq!(c_locale().rate(250_000_000.0, Units::Bytes), "250 MB/s");
    }

    #[test]
    fn bits_are_eight_per_byte() {
        assert_eq!(c_locale().rate(125_000.0, Units::Bits), "1.0 Mbit/s");
        assert_eq!(c_locale().amount(1, Units::Bits), "8 bit");
    }

    #[test]
    fn values_just_below_a_thousand_move_to_the_next_unit() {
        assert_eq!(c_locale().amount(999_999, Units::Bytes), "1.0 MB");
    }

    #[test]
    fn amounts_have_no_per_second() {
        assert_eq!(c_locale().amount(1_400_000_000, Units::Bytes), "1.4 GB");
    }

    #[test]
    fn negative_or_non_finite_rates_show_as_zero() {
        assert_eq!(c_locale().rate(-5.0, Units::Bytes), "0 B/s");
        assert_eq!(c_locale().rate(f64::NAN, Units::Bytes), "0 B/s");
    }

    #[test]
    fn locale_decimal_point_and_grouping_are_used() {
        assert_eq!(german().number(1_234_567.25, 2), "1.234.567,25");
        assert_eq!(german().rate(1_500.0, Units::Bytes), "1,5 kB/s");
        assert_eq!(german().count(12_345), "12.345");
        assert_eq!(c_locale().count(12_345), "12345");
    }

    #[test]
    fn percentages_have_one_decimal() {
        assert_eq!(c_locale().percent(0.998), "99.8%");
        assert_eq!(german().percent(1.0), "100,0%");
    }

    #[test]
    fn units_round_trip_through_their_gsettings_nick() {
        for units in [Units::Bytes, Units::Bits] {
            assert_eq!(Units::from_nick(units.nick()), units);
        }
        assert_eq!(Units::from_nick("nonsense"), Units::Bytes);
    }
}
