//! The template's `GtkSpinner`, spinning only while its page is shown: a spinning
//! GtkSpinner keeps the frame clock running even when hidden.

pub struct Spinner(gtk::Spinner);

impl Spinner {
    /// Takes over the template's spinner.
    pub fn new(template: gtk::Spinner) -> Self {
        Self(template)
    }

    pub fn set_spinning(&self, spinning: bool) {
        self.0.set_spinning(spinning);
    }
}
