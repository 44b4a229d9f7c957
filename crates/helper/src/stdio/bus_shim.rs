//! Just enough of `org.freedesktop.DBus` for standard tools: `gdbus call --address …` and
//! `busctl --address …` treat any address as a message bus and say `Hello` first.
//!
//! Deliberately no `GetNameOwner`: zbus proxies ask it for their destination's owner and,
//! when it fails (as on any peer-to-peer connection), accept signals from the peer as is.

/// The unique name handed to a tool that says `Hello`; on a peer-to-peer connection
/// nobody routes by it.
const PEER_UNIQUE_NAME: &str = ":1.1";

pub struct BusShim;

#[zbus::interface(name = "org.freedesktop.DBus")]
impl BusShim {
    /// Returns the caller's nominal unique name.
    async fn hello(&self) -> String {
        PEER_UNIQUE_NAME.to_owned()
    }

    /// Accepted and ignored: a peer gets every signal anyway.
    async fn add_match(&self, rule: String) {
        let _ = rule;
    }

    /// Accepted and ignored, like `AddMatch`.
    async fn remove_match(&self, rule: String) {
        let _ = rule;
    }
}
