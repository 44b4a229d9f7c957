//! The window's three tabs, named as the `AdwViewStack` children and the `--page` values.

/// The window's three tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Overview,
    Network,
    History,
}

impl Page {
    /// The `AdwViewStack` child name, also the `--page` value.
    pub fn name(self) -> &'static str {
        match self {
            Page::Overview => "overview",
            Page::Network => "network",
            Page::History => "history",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "overview" => Some(Page::Overview),
            "network" => Some(Page::Network),
            "history" => Some(Page::History),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_round_trip() {
        for page in [Page::Overview, Page::Network, Page::History] {
            assert_eq!(Page::from_name(page.name()), Some(page));
        }
        assert_eq!(Page::from_name("settings"), None);
    }
}
