//! An `AdwBanner` where the template's error bar is (the bar itself stays hidden); its button
//! clicks the template's Restart button, so the page's handler is the same on both builds.

use adw::prelude::*;
use gettextrs::gettext;

use super::ErrorBarWidgets;

pub struct ErrorBanner(adw::Banner);

impl ErrorBanner {
    pub fn new(bar: ErrorBarWidgets) -> Self {
        let banner = adw::Banner::builder()
            .button_label(gettext("_Restart"))
            .use_markup(false)
            .revealed(false)
            .build();
        if let Some(parent) = bar.revealer.parent() {
            banner.insert_before(&parent, Some(&bar.revealer));
        }
        bar.revealer.set_visible(false);
        let restart = bar.button;
        banner.connect_button_clicked(move |_| restart.emit_clicked());
        Self(banner)
    }

    /// Shows `text` (none: hides the banner).
    pub fn show(&self, text: Option<&str>) {
        if let Some(text) = text {
            self.0.set_title(text);
        }
        self.0.set_revealed(text.is_some());
    }
}
