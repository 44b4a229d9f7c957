//! Sockeye: see which processes use the network.
//!
//! ```text
//! main ─┬─ --json / --trace ─► terminal (the helper's terminal modes via the launcher; no GTK)
//!       ├─ --history ─────────► terminal ─► history::cli (the recorder on the system bus)
//!       └─ otherwise ─────────► app (relm4 GUI) ─► launcher ─► sockeye-helper (D-Bus p2p)
//! ```

use sockeye::{app, config, terminal};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Before the terminal modes too: `--history` prints translated text and amounts.
    init_gettext();
    if let Some(mode) = terminal::requested(&args) {
        return terminal::run(mode);
    }
    app::run(args)
}

/// Binds the translation domain before any string is shown.
fn init_gettext() {
    use gettextrs::{
        bind_textdomain_codeset, bindtextdomain, setlocale, textdomain, LocaleCategory,
    };
    setlocale(LocaleCategory::LcAll, "");
    // A missing locale directory only means English: nothing to report to the user.
    let _ = bindtextdomain(config::GETTEXT_PACKAGE, config::LOCALEDIR);
    let _ = bind_textdomain_codeset(config::GETTEXT_PACKAGE, "UTF-8");
    let _ = textdomain(config::GETTEXT_PACKAGE);
}
