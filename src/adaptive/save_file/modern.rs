//! `GtkFileDialog`, which keeps itself alive while it is open.

use super::SaveRequest;
use gtk::gio;
use gtk::prelude::*;
use std::path::PathBuf;

/// Nothing to keep: the dialog holds itself until answered.
pub struct Pending;

/// Asks where to save, over `parent`'s window; `chosen` gets the local path picked
/// (nothing happens on Cancel, or for a location with no local path).
pub fn ask_save_path(
    parent: &impl IsA<gtk::Widget>,
    request: &SaveRequest,
    chosen: impl Fn(PathBuf) + 'static,
) -> Pending {
    let window = parent.root().and_then(|r| r.downcast::<gtk::Window>().ok());
    let dialog = gtk::FileDialog::builder()
        .title(request.title.as_str())
        .accept_label(request.accept.as_str())
        .initial_name(request.suggested_name.as_str())
        .modal(true)
        .build();
    dialog.save(window.as_ref(), None::<&gio::Cancellable>, move |result| {
        if let Some(path) = result.ok().and_then(|file| file.path()) {
            chosen(path);
        }
    });
    Pending
}
