//! The header bar: the view switcher as its title and the primary menu.

use gettextrs::gettext;
use gtk::gio;

/// Builds the header bar for `stack`; also returns the switcher title, whose
/// `title-visible` tells when the bottom switcher bar must take over.
pub(super) fn build(stack: &adw::ViewStack) -> (adw::HeaderBar, adw::ViewSwitcherTitle) {
    let switcher_title = adw::ViewSwitcherTitle::builder()
        .stack(stack)
        .title(gettext("Sockeye"))
        .build();
    let header = adw::HeaderBar::builder()
        .title_widget(&switcher_title)
        .centering_policy(adw::CenteringPolicy::Strict)
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
    (header, switcher_title)
}
