//! The text formats a scraper reads: OpenMetrics 1.0 when its `Accept` header asks for it
//! (Prometheus does), the Prometheus text format 0.0.4 otherwise (curl, older scrapers).
//!
//! The two differ in small ways this module alone knows: OpenMetrics names a counter
//! family without `_total` and its samples with it, has an `info` type and a `UNIT` line,
//! escapes `"` in HELP text and ends with `# EOF`.

use std::fmt::Write;

/// A scrape's text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
    /// `text/plain; version=0.0.4`.
    Prometheus,
}

impl Format {
    /// The format a request's `Accept` header prefers: OpenMetrics when it is accepted
    /// with a weight at least that of plain text, the Prometheus text format otherwise
    /// (also with no header, or one that cannot be read).
    pub fn from_accept(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Prometheus;
        };
        let mut openmetrics = 0.0_f64;
        let mut text = 0.0_f64;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f64>().ok())
                .filter(|q| q.is_finite())
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(weight),
                "text/plain" | "text/*" | "*/*" => text = text.max(weight),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// What a metric family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only ever grows; samples are named `<family>_total`.
    Counter,
    Gauge,
    /// Constant 1 with the information in labels; samples are named `<family>_info`
    /// (a gauge in the Prometheus text format).
    Info,
}

/// One metric family's header.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// Name without the `_total` or `_info` suffix.
    pub name: &'static str,
    pub kind: Kind,
    /// The unit the name ends with (`bytes`), for OpenMetrics' `UNIT` line.
    pub unit: Option<&'static str>,
    /// One sentence; may hold any character (it is escaped).
    pub help: &'static str,
}

impl Family {
    /// The name of this family's samples.
    fn sample_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("{}_total", self.name),
            Kind::Gauge => self.name.to_owned(),
            Kind::Info => format!("{}_info", self.name),
        }
    }
}

/// Writes one exposition: families in order, each header followed by its samples.
pub struct Writer {
    format: Format,
    out: String,
    /// The sample name of the family being written.
    sample: String,
}

impl Writer {
    pub fn new(format: Format) -> Writer {
        Writer {
            format,
            out: String::with_capacity(16 * 1024),
            sample: String::new(),
        }
    }

    /// Starts a family: its HELP and TYPE (and UNIT) lines.
    pub fn family(&mut self, family: &Family) {
        self.sample = family.sample_name();
        let (name, kind) = match self.format {
            Format::OpenMetrics => (
                family.name.to_owned(),
                match family.kind {
                    Kind::Counter => "counter",
                    Kind::Gauge => "gauge",
                    Kind::Info => "info",
                },
            ),
            Format::Prometheus => (
                self.sample.clone(),
                match family.kind {
                    Kind::Counter => "counter",
                    Kind::Gauge | Kind::Info => "gauge",
                },
            ),
        };
        let _ = writeln!(self.out, "# HELP {name} {}", self.escape_help(family.help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        if let (Format::OpenMetrics, Some(unit)) = (self.format, family.unit) {
            let _ = writeln!(self.out, "# UNIT {name} {unit}");
        }
    }

    /// One sample of the current family. Label names must be valid names (they are
    /// this crate's constants); label values may hold anything.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(&self.sample);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(name);
                self.out.push_str("=\"");
                escape_label_value(value, &mut self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// The finished text (OpenMetrics' closing `# EOF` added).
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }

    /// HELP text escaped: `\` and line feeds in both formats, `"` too in OpenMetrics (in
    /// the Prometheus format `\"` would be read as those two characters).
    fn escape_help(&self, help: &str) -> String {
        let mut out = String::with_capacity(help.len());
        for c in help.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '"' if self.format == Format::OpenMetrics => out.push_str("\\\""),
                c => out.push(c),
            }
        }
        out
    }
}

/// Appends a label value escaped as both formats want it: `\` `"` and line feed.
fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: Family = Family {
        name: "demo_bytes",
        kind: Kind::Counter,
        unit: Some("bytes"),
        help: "Bytes \"seen\" \\ here\nand there.",
    };
    const BUILD: Family = Family {
        name: "demo_build",
        kind: Kind::Info,
        unit: None,
        help: "Build.",
    };

    fn write(format: Format) -> String {
        let mut writer = Writer::new(format);
        writer.family(&BYTES);
        writer.sample(&[("app", "/opt/a \"b\"\\c\nd"), ("direction", "sent")], 42);
        writer.sample(&[], 0);
        writer.family(&BUILD);
        writer.sample(&[("version", "1.2.3")], 1);
        writer.finish()
    }

    #[test]
    fn openmetrics_names_families_without_suffix_and_ends_with_eof() {
        assert_eq!(
            write(Format::OpenMetrics),
            "# HELP demo_bytes Bytes \\\"seen\\\" \\\\ here\\nand there.\n\
             # TYPE demo_bytes counter\n\
             # UNIT demo_bytes bytes\n\
             demo_bytes_total{app=\"/opt/a \\\"b\\\"\\\\c\\nd\",direction=\"sent\"} 42\n\
             demo_bytes_total 0\n\
             # HELP demo_build Build.\n\
             # TYPE demo_build info\n\
             demo_build_info{version=\"1.2.3\"} 1\n\
             # EOF\n"
        );
    }

    #[test]
    fn prometheus_text_names_families_by_their_samples_and_has_no_eof() {
        assert_eq!(
            write(Format::Prometheus),
            "# HELP demo_bytes_total Bytes \"seen\" \\\\ here\\nand there.\n\
             # TYPE demo_bytes_total counter\n\
             demo_bytes_total{app=\"/opt/a \\\"b\\\"\\\\c\\nd\",direction=\"sent\"} 42\n\
             demo_bytes_total 0\n\
             # HELP demo_build_info Build.\n\
             # TYPE demo_build_info gauge\n\
             demo_build_info{version=\"1.2.3\"} 1\n"
        );
    }

    #[test]
    fn label_values_keep_unicode_and_lose_nothing() {
        let mut out = String::new();
        escape_label_value("Bücher 📚 \u{202E}\t\r", &mut out);
        assert_eq!(out, "Bücher 📚 \u{202E}\t\r");
    }

    #[test]
    fn accept_header_picks_the_format() {
        let prometheus_2 =
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                            version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let cases = [
            (Some(prometheus_2), Format::OpenMetrics),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (Some("text/plain;version=0.0.4"), Format::Prometheus),
            (Some("*/*"), Format::Prometheus),
            (None, Format::Prometheus),
            (Some(""), Format::Prometheus),
            (
                Some("text/plain, application/openmetrics-text;q=0.5"),
                Format::Prometheus,
            ),
            (
                Some("application/openmetrics-text;q=0, text/plain;q=0.1"),
                Format::Prometheus,
            ),
            (
                Some("APPLICATION/OpenMetrics-Text; q=0.9, text/plain;q=0.8"),
                Format::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text;q=NaN;q=x,,;;"),
                Format::OpenMetrics,
            ),
        ];
        for (accept, expected) in cases {
            assert_eq!(Format::from_accept(accept), expected, "{accept:?}");
        }
    }
}
