//! The GtkBuilder templates in the GResource bundle (`data/resources/ui/*.ui`), and typed
//! access to their objects by id.

use gtk::prelude::*;

/// Where the bundle's files live (the same for the Devel app id): GTK finds `style.css` and
/// `gtk/help-overlay.ui` there by itself, the templates below it in `ui/`.
pub const RESOURCE_BASE_PATH: &str = "/io/github/sockeye/Sockeye/";

/// One parsed template.
pub struct Template {
    name: &'static str,
    builder: gtk::Builder,
}

impl Template {
    /// Parses `ui/<name>` from the bundle (registered by `app::run`).
    pub fn load(name: &'static str) -> Self {
        Self {
            name,
            builder: gtk::Builder::from_resource(&format!("{RESOURCE_BASE_PATH}ui/{name}")),
        }
    }

    /// The object with `id`. The templates are compiled into the binary and checked by every
    /// start of the app, so a missing or mistyped id is a bug in this build, not a runtime
    /// condition: it panics, naming both.
    pub fn get<T: IsA<gtk::glib::Object>>(&self, id: &str) -> T {
        self.builder
            .object(id)
            .unwrap_or_else(|| panic!("template {} has no {id} of the expected type", self.name))
    }
}

/// The model value a widget was last set to, so that `update_view` sets the widget again
/// only when the model's value changes. Needed where GTK also changes the widget itself (a
/// click on the view switcher, Escape in the search bar): the message reporting that may
/// still be queued behind others, and rendering the stale model value meanwhile would undo
/// what the user just did.
#[derive(Debug)]
pub struct Shown<T>(Option<T>);

impl<T> Default for Shown<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T: PartialEq + Clone> Shown<T> {
    /// Whether `value` differs from the one last shown; remembers it.
    pub fn changed(&mut self, value: &T) -> bool {
        if self.0.as_ref() == Some(value) {
            return false;
        }
        self.0 = Some(value.clone());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Shown;

    #[test]
    fn a_shown_value_counts_as_changed_only_when_the_model_moves() {
        let mut shown = Shown::default();
        assert!(shown.changed(&false), "nothing shown yet");
        assert!(!shown.changed(&false));
        assert!(shown.changed(&true));
        assert!(!shown.changed(&true));
    }
}
