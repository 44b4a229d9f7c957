//! The About window or dialog (`crate::adaptive::about`): credits, links and licence.

use adw::prelude::*;
use gettextrs::gettext;

use crate::adaptive::about::About;
use crate::config;

/// Shows the About window over `parent`.
pub fn present(parent: &adw::ApplicationWindow) {
    let about = About::new();
    // The same property names on AdwAboutWindow and AdwAboutDialog.
    about.object().set_properties_from_value(&[
        ("application-name", gettext("Sockeye").to_value()),
        ("application-icon", config::APP_ID.to_value()),
        (
            "developer-name",
            gettext("The Sockeye developers").to_value(),
        ),
        ("version", config::VERSION.to_value()),
        (
            "comments",
            gettext("See which processes and applications use the network, and how much.")
                .to_value(),
        ),
        ("website", "https://github.com/sockeye/sockeye".to_value()),
        (
            "issue-url",
            "https://github.com/sockeye/sockeye/issues".to_value(),
        ),
        ("license-type", gtk::License::Gpl30.to_value()),
        (
            "copyright",
            gettext("© 2026 The Sockeye developers").to_value(),
        ),
        (
            "developers",
            ["The Sockeye developers"].as_slice().to_value(),
        ),
        // Translators: replace with your names, one per line.
        (
            "translator-credits",
            gettext("translator-credits").to_value(),
        ),
    ]);
    about.add_link(
        &gettext("Source Code"),
        "https://github.com/sockeye/sockeye",
    );
    about.add_acknowledgement_section(
        Some(&gettext("Inspired by")),
        &["libgtop netstats https://gitlab.gnome.org/GNOME/libgtop"],
    );
    about.present(parent);
}
