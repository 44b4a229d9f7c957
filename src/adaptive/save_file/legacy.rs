//! `GtkFileChooserNative`, which must be kept alive while it is open.

use super::SaveRequest;
use gettextrs::gettext;
use gtk::prelude::*;
use std::path::PathBuf;

/// The open chooser: keep it until the user answered (dropping it early closes it).
pub struct Pending(#[allow(dead_code)] gtk::FileChooserNative);

/// Asks where to save, over `parent`'s window; `chosen` gets the local path picked
/// (nothing happens on Cancel, or for a location with no local path).
pub fn ask_save_path(
    parent: &impl IsA<gtk::Widget>,
    request: &SaveRequest,
    chosen: impl Fn(PathBuf) + 'static,
) -> Pending {
    let window = parent.root().and_then(|r| r.downcast::<gtk::Window>().ok());
    let chooser = gtk::FileChooserNative::new(
        Some(&request.title),
        window.as_ref(),
        gtk::FileChooserAction::Save,
        Some(&request.accept),
        Some(&gettext("_Cancel")),
    );
    chooser.set_current_name(&request.suggested_name);
    chooser.connect_response(move |chooser, response| {
        if response == gtk::ResponseType::Accept {
            if let Some(path) = chooser.file().and_then(|f| f.path()) {
                chosen(path);
            }
        }
        chooser.destroy();
    });
    chooser.show();
    Pending(chooser)
}
