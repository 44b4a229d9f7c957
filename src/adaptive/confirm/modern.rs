//! `AdwAlertDialog`, presented over `parent`.

use super::Question;
use adw::prelude::*;

/// Asks `question` over `parent`; runs `confirmed` only if the action is chosen (Escape
/// and closing mean Cancel, which is also the default).
pub fn confirm_destructive(
    parent: &impl IsA<gtk::Widget>,
    question: &Question,
    confirmed: impl Fn() + 'static,
) {
    let dialog = adw::AlertDialog::new(Some(&question.heading), Some(&question.body));
    dialog.add_responses(&[("cancel", &question.cancel), ("action", &question.action)]);
    dialog.set_response_appearance("action", adw::ResponseAppearance::Destructive);
    dialog.set_default_response(Some("cancel"));
    dialog.set_close_response("cancel");
    dialog.connect_response(None, move |_, response| {
        if response == "action" {
            confirmed();
        }
    });
    dialog.present(Some(parent));
}
