//! The template's error bar: a revealer with a warning icon, the sentence and Restart.

use super::ErrorBarWidgets;

pub struct ErrorBanner(ErrorBarWidgets);

impl ErrorBanner {
    pub fn new(bar: ErrorBarWidgets) -> Self {
        Self(bar)
    }

    /// Shows `text` (none: hides the bar).
    pub fn show(&self, text: Option<&str>) {
        if let Some(text) = text {
            self.0.label.set_label(text);
        }
        self.0.revealer.set_reveal_child(text.is_some());
    }
}
