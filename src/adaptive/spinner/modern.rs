//! An `AdwSpinner` in place of the template's `GtkSpinner` (the child of a status page); it
//! animates only while mapped, so nothing starts or stops it.

use adw::prelude::*;

pub struct Spinner;

impl Spinner {
    /// Puts an `AdwSpinner` where the template's spinner is.
    pub fn new(template: gtk::Spinner) -> Self {
        let spinner = adw::Spinner::builder()
            .width_request(template.width_request())
            .height_request(template.height_request())
            .halign(template.halign())
            .build();
        if let Some(page) = template
            .ancestor(adw::StatusPage::static_type())
            .and_downcast::<adw::StatusPage>()
        {
            page.set_child(Some(&spinner));
        }
        Self
    }

    /// Nothing to do: an `AdwSpinner` spins exactly while it is shown.
    pub fn set_spinning(&self, _spinning: bool) {}
}
