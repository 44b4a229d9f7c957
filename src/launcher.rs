//! Starts `sockeye-helper` (directly, through pkexec, or on the Flatpak host) and connects to it.
