//! The header bar: the view switcher as its title (`crate::adaptive::switcher`) and the
//! primary menu.

use gettextrs::gettext;
use gtk::gio;

use crate::adaptive::switcher::Switcher;

/// Builds the header bar for `stack`; also returns the switcher, whose bottom bar the
/// window places.
pub(super) fn build(stack: &adw::ViewStack) -> (adw::HeaderBar, Switcher) {
    let switcher = Switcher::new(stack);
    let header = adw::HeaderBar::builder()
        .title_widget(&switcher.title)
        .centering_policy(adw::CenteringPolicy::Loose)
        .build();

    let menu = gio::Menu::new();
    let section = gio::Menu::new();
    section.append(Some(&gettext("_Preferences")), Some("app.preferences"));
    section.append(
        Some(&gettext("_Keyboard Shortcuts")),
        Some("win.show-help-overlay"),
    );
    section.append(Some(&gettext("_About Sockeye")), Some("app.about"));
    menu.append_section(None, &section);
    let menu_button = gtk::MenuButton::builder()
        .icon_name("open-menu-symbolic")
        .menu_model(&menu)
        .primary(true)
        .tooltip_text(gettext("Main Menu"))
        .build();
    header.pack_end(&menu_button);
    (header, switcher)
}
