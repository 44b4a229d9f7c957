//! The Network tab (placeholder while the capture view is built).

use relm4::prelude::*;

use crate::settings::Preferences;

#[derive(Debug)]
pub enum NetworkInput {
    SetVisible(bool),
    PreferencesChanged(Preferences),
    ToggleSearch,
    TogglePause,
}

#[derive(Debug)]
pub enum NetworkOutput {
    Toast(String),
}

pub struct NetworkPage;

impl SimpleComponent for NetworkPage {
    type Init = Preferences;
    type Input = NetworkInput;
    type Output = NetworkOutput;
    type Root = adw::StatusPage;
    type Widgets = ();

    fn init_root() -> Self::Root {
        adw::StatusPage::builder()
            .icon_name("network-transmit-receive-symbolic")
            .build()
    }

    fn init(
        _: Preferences,
        _root: Self::Root,
        _sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        ComponentParts {
            model: NetworkPage,
            widgets: (),
        }
    }
}
