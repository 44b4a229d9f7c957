//! The About window: credits, links and licence.

use adw::prelude::*;
use gettextrs::gettext;

use crate::config;

/// Shows the About window over `parent`.
pub fn present(parent: &impl IsA<gtk::Window>) {
    let about = adw::AboutWindow::builder()
        .transient_for(parent)
        .modal(true)
        .application_name(gettext("Sockeye"))
        .application_icon(config::APP_ID)
        .developer_name(gettext("The Sockeye developers"))
        .version(config::VERSION)
        .comments(gettext(
            "See which processes and applications use the network, and how much.",
        ))
        .website("https://github.com/sockeye/sockeye")
        .issue_url("https://github.com/sockeye/sockeye/issues")
        .license_type(gtk::License::Gpl30)
        .copyright(gettext("© 2026 The Sockeye developers"))
        .developers(vec!["The Sockeye developers"])
        // Translators: replace with your names, one per line.
        .translator_credits(gettext("translator-credits"))
        .build();
    about.add_link(
        &gettext("Source Code"),
        "https://github.com/sockeye/sockeye",
    );
    about.add_acknowledgement_section(
        Some(&gettext("Inspired by")),
        &["libgtop netstats https://gitlab.gnome.org/GNOME/libgtop"],
    );
    about.present();
}
