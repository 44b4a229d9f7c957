//! `AdwViewSwitcherTitle`, whose `title-visible` reveals the bottom bar.

use gettextrs::gettext;
use gtk::prelude::*;

/// The header's title widget and the bottom bar, both switching `stack`.
pub struct Switcher {
    pub title: gtk::Widget,
    pub bar: adw::ViewSwitcherBar,
}

impl Switcher {
    pub fn new(stack: &adw::ViewStack) -> Self {
        let title = adw::ViewSwitcherTitle::builder()
            .stack(stack)
            .title(gettext("Sockeye"))
            .build();
        let bar = adw::ViewSwitcherBar::builder().stack(stack).build();
        title
            .bind_property("title-visible", &bar, "reveal")
            .sync_create()
            .build();
        Self {
            title: title.upcast(),
            bar,
        }
    }

    /// Nothing to do: the switcher title reveals the bar when it has no room itself.
    pub fn set_narrow(&self, _narrow: bool) {}
}
