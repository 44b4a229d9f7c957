//! An `AdwViewSwitcher` in the header; at the narrow breakpoint the bar at the bottom takes
//! over and the header shows the app's name.

use gettextrs::gettext;
use gtk::prelude::*;

/// The header's title widget and the bottom bar, both switching `stack`.
pub struct Switcher {
    pub title: gtk::Widget,
    pub bar: adw::ViewSwitcherBar,
    /// The header's title: the switcher, or the app's name when narrow.
    title_stack: gtk::Stack,
}

impl Switcher {
    pub fn new(stack: &adw::ViewStack) -> Self {
        let switcher = adw::ViewSwitcher::builder()
            .stack(stack)
            .policy(adw::ViewSwitcherPolicy::Wide)
            .build();
        let title_stack = gtk::Stack::builder().hhomogeneous(false).build();
        title_stack.add_named(&switcher, Some("switcher"));
        title_stack.add_named(
            &adw::WindowTitle::new(&gettext("Sockeye"), ""),
            Some("name"),
        );
        let bar = adw::ViewSwitcherBar::builder().stack(stack).build();
        Self {
            title: title_stack.clone().upcast(),
            bar,
            title_stack,
        }
    }

    /// Moves the switcher to the bottom bar when narrow, back to the header when wide.
    pub fn set_narrow(&self, narrow: bool) {
        self.bar.set_reveal(narrow);
        self.title_stack
            .set_visible_child_name(if narrow { "name" } else { "switcher" });
    }
}
