//! A chart of download and upload rates over time, drawn with cairo in the theme's accent
//! (download) and success (upload) colours: a full chart with grid lines for the Overview
//! and the details pane, and a compact sparkline for table cells.

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

// A `cfg` outside `crate::adaptive` (as for `HistoryChart`): a type's interface list cannot
// be passed in. GTK
// 4.10+ bindings (the adw_1_7 build) require GtkAccessible in it; 4.8's do not have it.
#[cfg(feature = "adw_1_7")]
glib::wrapper! {
    pub struct RateChart(ObjectSubclass<imp::RateChart>)
        @extends gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget;
}
#[cfg(not(feature = "adw_1_7"))]
glib::wrapper! {
    pub struct RateChart(ObjectSubclass<imp::RateChart>)
        @extends gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl RateChart {
    /// A chart showing `capacity` samples across its width; `compact` for sparklines.
    pub fn new(capacity: usize, compact: bool) -> Self {
        let chart: Self = glib::Object::new();
        chart.imp().capacity.set(capacity.max(2));
        chart.imp().compact.set(compact);
        if compact {
            chart.add_css_class("sparkline");
        }
        chart
    }

    /// Replaces the samples: (download, upload) in bytes per second, oldest first.
    pub fn set_samples(&self, samples: impl IntoIterator<Item = (f64, f64)>) {
        let mut stored = self.imp().samples.borrow_mut();
        stored.clear();
        stored.extend(samples);
        drop(stored);
        self.queue_draw();
    }

    /// Keeps a signal connection alive as long as the chart shows that object's data
    /// (table cells are recycled: the previous one is disconnected).
    pub fn set_source(&self, source: Option<(glib::Object, glib::SignalHandlerId)>) {
        if let Some((object, handler)) = self.imp().source.replace(source) {
            object.disconnect(handler);
        }
    }

    /// The top of the vertical scale, in bytes per second: at least 1 kB/s, so a trickle of
    /// keep-alives does not fill the chart.
    pub fn scale_max(&self) -> f64 {
        nice_ceiling(
            MIN_SCALE.max(
                self.imp()
                    .samples
                    .borrow()
                    .iter()
                    .fold(0.0_f64, |m, (d, u)| m.max(*d).max(*u)),
            ),
        )
    }
}

/// The smallest top of scale, in bytes per second.
const MIN_SCALE: f64 = 1_000.0;

/// Rounds a peak up to 1, 2 or 5 × a power of ten, so the chart's scale moves in steps.
pub fn nice_ceiling(peak: f64) -> f64 {
    if peak <= 0.0 || !peak.is_finite() {
        return 1.0;
    }
    let power = 10_f64.powf(peak.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|v| *v >= peak)
        .unwrap_or(10.0 * power)
}

mod imp {
    use super::*;
    use std::cell::{Cell, RefCell};

    #[derive(Default)]
    pub struct RateChart {
        pub samples: RefCell<Vec<(f64, f64)>>,
        pub capacity: Cell<usize>,
        pub compact: Cell<bool>,
        pub source: RefCell<Option<(glib::Object, glib::SignalHandlerId)>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RateChart {
        const NAME: &'static str = "SockeyeRateChart";
        type Type = super::RateChart;
        type ParentType = gtk::Widget;
    }

    impl ObjectImpl for RateChart {
        fn dispose(&self) {
            if let Some((object, handler)) = self.source.take() {
                object.disconnect(handler);
            }
        }
    }

    impl WidgetImpl for RateChart {
        fn measure(&self, orientation: gtk::Orientation, _for_size: i32) -> (i32, i32, i32, i32) {
            let (min, natural) = match (orientation, self.compact.get()) {
                (gtk::Orientation::Horizontal, true) => (60, 90),
                (_, true) => (20, 24),
                (gtk::Orientation::Horizontal, false) => (120, 400),
                (_, false) => (80, 160),
            };
            (min, natural, -1, -1)
        }

        fn snapshot(&self, snapshot: &gtk::Snapshot) {
            let widget = self.obj();
            let (width, height) = (f64::from(widget.width()), f64::from(widget.height()));
            if width <= 1.0 || height <= 1.0 {
                return;
            }
            let bounds = gtk::graphene::Rect::new(0.0, 0.0, width as f32, height as f32);
            let cr = snapshot.append_cairo(&bounds);
            let colors = Colors::of(&widget);
            let compact = self.compact.get();
            let samples = self.samples.borrow();
            let max = widget.scale_max();
            let pad = if compact { 2.0 } else { 1.0 };
            let plot_h = height - 2.0 * pad;

            if !compact {
                // Horizontal grid lines at quarters of the scale.
                cr.set_source_rgba(colors.fg.0, colors.fg.1, colors.fg.2, 0.08);
                cr.set_line_width(1.0);
                for i in 0..=4 {
                    let y = (pad + plot_h * f64::from(i) / 4.0).round() + 0.5;
                    cr.move_to(0.0, y);
                    cr.line_to(width, y);
                }
                // Drawing errors (out of memory) only lose a frame.
                let _ = cr.stroke();
            }

            let capacity = self.capacity.get();
            let step = width / (capacity - 1) as f64;
            let first_x = width - step * (samples.len().saturating_sub(1)) as f64;
            for (series, color) in [(1usize, colors.upload), (0usize, colors.download)] {
                if samples.is_empty() {
                    break;
                }
                let point = |i: usize| {
                    let value = if series == 0 {
                        samples[i].0
                    } else {
                        samples[i].1
                    };
                    let x = first_x + step * i as f64;
                    let y = pad + plot_h - (value / max).clamp(0.0, 1.0) * plot_h;
                    (x, y)
                };
                let (x0, y0) = point(0);
                cr.move_to(x0, y0);
                for i in 1..samples.len() {
                    let (x, y) = point(i);
                    cr.line_to(x, y);
                }
                cr.set_source_rgba(color.0, color.1, color.2, 1.0);
                cr.set_line_width(if compact { 1.5 } else { 2.0 });
                cr.set_line_join(gtk::cairo::LineJoin::Round);
                let _ = cr.stroke_preserve();
                let (xn, _) = point(samples.len() - 1);
                cr.line_to(xn, pad + plot_h);
                cr.line_to(x0, pad + plot_h);
                cr.close_path();
                cr.set_source_rgba(color.0, color.1, color.2, if compact { 0.15 } else { 0.2 });
                let _ = cr.fill();
            }
        }
    }

    /// Theme colours as (r, g, b) in 0..=1.
    struct Colors {
        download: (f64, f64, f64),
        upload: (f64, f64, f64),
        fg: (f64, f64, f64),
    }

    impl Colors {
        #[allow(deprecated)] // gtk_widget_get_color is GTK 4.10; this builds against 4.8.
        fn of(widget: &super::RateChart) -> Self {
            let context = widget.style_context();
            let rgb = |name: &str, fallback: (f64, f64, f64)| {
                context
                    .lookup_color(name)
                    .map(|c| {
                        (
                            f64::from(c.red()),
                            f64::from(c.green()),
                            f64::from(c.blue()),
                        )
                    })
                    .unwrap_or(fallback)
            };
            let fg = context.color();
            Self {
                download: rgb("accent_color", (0.21, 0.52, 0.89)),
                upload: rgb("success_color", (0.15, 0.64, 0.41)),
                fg: (
                    f64::from(fg.red()),
                    f64::from(fg.green()),
                    f64::from(fg.blue()),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::nice_ceiling;

    #[test]
    fn scale_rounds_up_to_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(1_200.0), 2_000.0);
        assert_eq!(nice_ceiling(5_000.0), 5_000.0);
        assert_eq!(nice_ceiling(7_300_000.0), 10_000_000.0);
    }
}
