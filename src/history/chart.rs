//! The History tab's chart: per slot (hour or day) a bar of received bytes going up from
//! the middle line and one of sent bytes going down, each stacked by app in the palette
//! colours of [`LAYER_COLORS`]; times the recorder did not run are hatched, slots still
//! to come are empty. Axis labels are set by the page, in the locale's formatting.

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{glib, graphene};

use super::series::{SlotStack, LAYERS};

/// libadwaita palette colours of the chart layers, with their values as fallbacks: the top
/// apps in order, then "other apps" (drawn in the text colour, faint). The list rows use the
/// same colours through the `history-layer-N` style classes.
pub const LAYER_COLORS: [(&str, (f64, f64, f64)); LAYERS - 1] = [
    ("blue_3", (0.21, 0.52, 0.89)),
    ("orange_3", (1.0, 0.47, 0.0)),
    ("green_4", (0.18, 0.76, 0.49)),
    ("purple_2", (0.75, 0.38, 0.80)),
    ("yellow_5", (0.90, 0.65, 0.04)),
];

/// What the chart shows; set as a whole by the page.
#[derive(Debug, Clone, Default)]
pub struct ChartData {
    /// One per slot.
    pub stacks: Vec<SlotStack>,
    /// Slot boundaries, seconds since the epoch (one more than `stacks`).
    pub starts: Vec<i64>,
    /// Times the recorder did not run, seconds since the epoch.
    pub gaps: Vec<(i64, i64)>,
    /// Label under each slot; the chart shows as many as fit.
    pub x_labels: Vec<String>,
    /// Top of the received scale and bottom of the sent scale, in bytes.
    pub received_max: u64,
    pub sent_max: u64,
    /// The scale labels for those two.
    pub received_label: String,
    pub sent_label: String,
}

// As for `RateChart`: GTK 4.10+ bindings (the adw_1_7 build) want GtkAccessible in the
// interface list, 4.8's do not have it, and the list cannot be passed in.
#[cfg(feature = "adw_1_7")]
glib::wrapper! {
    pub struct HistoryChart(ObjectSubclass<imp::HistoryChart>)
        @extends gtk::Widget,
        @implements gtk::Accessible, gtk::Buildable, gtk::ConstraintTarget;
}
#[cfg(not(feature = "adw_1_7"))]
glib::wrapper! {
    pub struct HistoryChart(ObjectSubclass<imp::HistoryChart>)
        @extends gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl Default for HistoryChart {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl HistoryChart {
    pub fn set_data(&self, data: ChartData) {
        self.imp().data.replace(data);
        self.queue_draw();
    }
}

/// Share of the plot's height given to received bytes (the rest shows sent bytes).
const RECEIVED_SHARE: f64 = 0.65;

mod imp {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    pub struct HistoryChart {
        pub data: RefCell<ChartData>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for HistoryChart {
        const NAME: &'static str = "SockeyeHistoryChart";
        type Type = super::HistoryChart;
        type ParentType = gtk::Widget;

        fn class_init(klass: &mut Self::Class) {
            klass.set_accessible_role(gtk::AccessibleRole::Img);
        }
    }

    impl ObjectImpl for HistoryChart {}

    impl WidgetImpl for HistoryChart {
        fn measure(&self, orientation: gtk::Orientation, _for_size: i32) -> (i32, i32, i32, i32) {
            match orientation {
                gtk::Orientation::Horizontal => (200, 600, -1, -1),
                _ => (180, 220, -1, -1),
            }
        }

        fn snapshot(&self, snapshot: &gtk::Snapshot) {
            let widget = self.obj();
            let (width, height) = (f64::from(widget.width()), f64::from(widget.height()));
            if width <= 1.0 || height <= 1.0 {
                return;
            }
            let data = self.data.borrow();
            let fg = fg_color(&widget);
            let text = |s: &str| widget.create_pango_layout(Some(s));

            // Room for the scale labels on the left and the slot labels below.
            let scale_layouts = [text(&data.received_label), text(&data.sent_label)];
            let label_w = scale_layouts
                .iter()
                .map(|l| f64::from(l.pixel_size().0))
                .fold(0.0, f64::max);
            let line_h = f64::from(text("0").pixel_size().1);
            let left = label_w + 8.0;
            let bottom = line_h + 4.0;
            let plot_w = (width - left).max(1.0);
            let plot_h = (height - bottom).max(1.0);
            let mid = (plot_h * RECEIVED_SHARE).round();
            let slots = data.stacks.len().max(1);
            let slot_w = plot_w / slots as f64;

            let bounds = graphene::Rect::new(0.0, 0.0, width as f32, height as f32);
            let cr = snapshot.append_cairo(&bounds);
            let colors = layer_colors(&widget, fg);

            // Gaps: hatched across the whole height.
            let x_of = |t: i64| -> f64 {
                let starts = &data.starts;
                if starts.len() < 2 {
                    return left;
                }
                let i = starts
                    .partition_point(|s| *s <= t)
                    .clamp(1, starts.len() - 1)
                    - 1;
                let span = (starts[i + 1] - starts[i]).max(1) as f64;
                let within = ((t - starts[i]) as f64 / span).clamp(0.0, 1.0);
                left + (i as f64 + within) * slot_w
            };
            for (from, to) in &data.gaps {
                let (x0, x1) = (x_of(*from), x_of(*to));
                if x1 - x0 < 0.5 {
                    continue;
                }
                cr.save().ok();
                cr.rectangle(x0, 0.0, x1 - x0, plot_h);
                cr.clip();
                cr.set_source_rgba(fg.0, fg.1, fg.2, 0.05);
                cr.paint().ok();
                cr.set_source_rgba(fg.0, fg.1, fg.2, 0.22);
                cr.set_line_width(1.0);
                let mut x = x0 - plot_h;
                while x < x1 {
                    cr.move_to(x, plot_h);
                    cr.line_to(x + plot_h, 0.0);
                    x += 8.0;
                }
                cr.stroke().ok();
                cr.restore().ok();
            }

            // Bars: received up from the middle line, sent down, stacked by layer.
            let gap = (slot_w * 0.2).clamp(1.0, 6.0);
            let bar_w = (slot_w - gap).max(1.0);
            let received_max = data.received_max.max(1) as f64;
            let sent_max = data.sent_max.max(1) as f64;
            for (i, stack) in data.stacks.iter().enumerate() {
                let x = left + i as f64 * slot_w + gap / 2.0;
                let mut up = mid;
                let mut down = mid;
                for (layer, (r, g, b, a)) in colors.iter().copied().enumerate() {
                    cr.set_source_rgba(r, g, b, a);
                    let h = stack.received[layer] as f64 / received_max * mid;
                    if h > 0.0 {
                        cr.rectangle(x, up - h, bar_w, h);
                        cr.fill().ok();
                        up -= h;
                    }
                    let h = stack.sent[layer] as f64 / sent_max * (plot_h - mid);
                    if h > 0.0 {
                        cr.rectangle(x, down, bar_w, h);
                        cr.fill().ok();
                        down += h;
                    }
                }
            }

            // The middle line, and faint lines at the top and bottom of the scales.
            cr.set_source_rgba(fg.0, fg.1, fg.2, 0.35);
            cr.set_line_width(1.0);
            cr.move_to(left, mid + 0.5);
            cr.line_to(width, mid + 0.5);
            cr.stroke().ok();
            cr.set_source_rgba(fg.0, fg.1, fg.2, 0.1);
            for y in [0.5, plot_h - 0.5] {
                cr.move_to(left, y);
                cr.line_to(width, y);
            }
            cr.stroke().ok();
            drop(cr);

            // Text: the scale's top and bottom, the slot labels.
            let label_color = gtk::gdk::RGBA::new(fg.0 as f32, fg.1 as f32, fg.2 as f32, 0.7);
            let place = |layout: &gtk::pango::Layout, x: f64, y: f64| {
                snapshot.save();
                snapshot.translate(&graphene::Point::new(x as f32, y as f32));
                snapshot.append_layout(layout, &label_color);
                snapshot.restore();
            };
            place(&scale_layouts[0], 0.0, 0.0);
            place(&scale_layouts[1], 0.0, plot_h - line_h);
            let layouts: Vec<_> = data.x_labels.iter().map(|l| text(l)).collect();
            let widest = layouts
                .iter()
                .map(|l| f64::from(l.pixel_size().0))
                .fold(0.0, f64::max);
            let step = label_step(slot_w, widest);
            for (i, layout) in layouts.iter().enumerate() {
                if i % step == 0 {
                    let w = f64::from(layout.pixel_size().0);
                    let x = (left + (i as f64 + 0.5) * slot_w - w / 2.0).clamp(left, width - w);
                    place(layout, x, plot_h + 3.0);
                }
            }
        }
    }

    #[allow(deprecated)] // gtk_widget_get_color is GTK 4.10; this builds against 4.8.
    fn fg_color(widget: &super::HistoryChart) -> (f64, f64, f64) {
        let c = widget.style_context().color();
        (
            f64::from(c.red()),
            f64::from(c.green()),
            f64::from(c.blue()),
        )
    }

    /// (r, g, b, alpha) of each layer.
    #[allow(deprecated)] // as above: style_context's lookup_color is what 4.8 has.
    fn layer_colors(
        widget: &super::HistoryChart,
        fg: (f64, f64, f64),
    ) -> [(f64, f64, f64, f64); LAYERS] {
        let context = widget.style_context();
        let mut colors = [(fg.0, fg.1, fg.2, 0.3); LAYERS];
        for (slot, (name, fallback)) in colors.iter_mut().zip(LAYER_COLORS) {
            let (r, g, b) = context
                .lookup_color(name)
                .map(|c| {
                    (
                        f64::from(c.red()),
                        f64::from(c.green()),
                        f64::from(c.blue()),
                    )
                })
                .unwrap_or(fallback);
            *slot = (r, g, b, 1.0);
        }
        colors
    }
}

/// Every how many slots a label is shown, so labels `label_px` wide do not overlap on slots
/// `slot_px` wide: 1, 2, 3, 4, 6, 8, 12 or 24, so hour labels fall on round hours.
pub fn label_step(slot_px: f64, label_px: f64) -> usize {
    let needed = ((label_px + 10.0) / slot_px.max(0.5)).ceil().max(1.0) as usize;
    [1, 2, 3, 4, 6, 8, 12, 24]
        .into_iter()
        .find(|s| *s >= needed)
        .unwrap_or(needed)
}
