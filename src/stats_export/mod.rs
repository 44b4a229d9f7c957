//! Serves `io.github.sockeye.Stats1` at `/io/github/sockeye/Stats` on the application's
//! own session-bus connection (so under its bus name `io.github.sockeye.Sockeye`): the
//! seed-compatible `GetStats() → a{u(tt)}` (pid → (bytes sent, bytes received), what the
//! Network tab shows; empty when not capturing) and the `Capturing` property.
//!
//! Any program of the session may call it, and the calls run on the GTK main thread, so
//! a call costs little: the reply is built once per published table (at the first call
//! after it) and then only shared, and a caller asking more than 10 times a second (after
//! a burst of 10; `caller_limit`) gets `org.freedesktop.DBus.Error.LimitsExceeded` instead
//! of the table — cheaper to send than the table, and clear about why.

mod caller_limit;

use caller_limit::{CallerLimit, CALLS_PER_SECOND};
use gtk::gio;
use gtk::glib;
use gtk::prelude::*;
use sockeye_protocol::{STATS_INTERFACE, STATS_PATH};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

const INTROSPECTION: &str = r#"<node>
  <interface name="io.github.sockeye.Stats1">
    <method name="GetStats">
      <arg name="stats" type="a{u(tt)}" direction="out"/>
    </method>
    <property name="Capturing" type="b" access="read"/>
  </interface>
</node>"#;

#[derive(Debug, Default)]
struct Published {
    capturing: bool,
    stats: HashMap<u32, (u64, u64)>,
    /// `GetStats`'s reply for `stats`, built at the first call after they were published.
    reply: Option<glib::Variant>,
    /// Replies built so far: at most one per publish, however many calls.
    replies_built: u64,
    callers: CallerLimit,
}

impl Published {
    /// The reply for the published table (built now if no call asked for it yet).
    fn reply(&mut self) -> glib::Variant {
        if let Some(reply) = &self.reply {
            return reply.clone();
        }
        let reply = (&self.stats,).to_variant();
        self.replies_built += 1;
        self.reply = Some(reply.clone());
        reply
    }
}

/// The exported object; unregistered when dropped.
pub struct StatsExport {
    connection: gio::DBusConnection,
    registration: Option<gio::RegistrationId>,
    published: Rc<RefCell<Published>>,
}

impl StatsExport {
    /// Registers the object on `connection` (the `GApplication`'s).
    pub fn register(connection: gio::DBusConnection) -> Result<Self, glib::Error> {
        let node = gio::DBusNodeInfo::for_xml(INTROSPECTION)?;
        let interface = node.lookup_interface(STATS_INTERFACE).ok_or_else(|| {
            glib::Error::new(
                gio::IOErrorEnum::InvalidData,
                "Stats1 missing from the introspection data",
            )
        })?;
        let published = Rc::new(RefCell::new(Published::default()));
        let for_calls = published.clone();
        let for_properties = published.clone();
        let registration = connection
            .register_object(STATS_PATH, &interface)
            .method_call(move |_, sender, _, _, method, _, invocation| match method {
                "GetStats" => {
                    let mut published = for_calls.borrow_mut();
                    // On a bus every caller has its unique name; a peer-to-peer one has
                    // none and shares one allowance.
                    if published
                        .callers
                        .allow(sender.unwrap_or(""), Instant::now())
                    {
                        let reply = published.reply();
                        drop(published);
                        invocation.return_value(Some(&reply));
                    } else {
                        drop(published);
                        invocation.return_error(
                            gio::DBusError::LimitsExceeded,
                            &format!(
                                "GetStats asked more than {CALLS_PER_SECOND} times a second; \
                                 the figures change once per update interval"
                            ),
                        );
                    }
                }
                _ => invocation.return_error(
                    gio::DBusError::UnknownMethod,
                    &format!("No method {method}"),
                ),
            })
            .property(move |_, _, _, _, property| match property {
                "Capturing" => for_properties.borrow().capturing.to_variant(),
                // GDBus checks property names against the introspection data first.
                _ => false.to_variant(),
            })
            .build()?;
        Ok(Self {
            connection,
            registration: Some(registration),
            published,
        })
    }

    /// Replaces what `GetStats` returns; emits `PropertiesChanged` when `Capturing` changes.
    pub fn publish(&self, capturing: bool, stats: HashMap<u32, (u64, u64)>) {
        let changed = {
            let mut published = self.published.borrow_mut();
            let changed = published.capturing != capturing;
            published.capturing = capturing;
            published.stats = stats;
            published.reply = None;
            changed
        };
        if changed {
            let mut properties = HashMap::new();
            properties.insert("Capturing".to_string(), capturing.to_variant());
            let body = (STATS_INTERFACE, properties, Vec::<String>::new()).to_variant();
            if let Err(err) = self.connection.emit_signal(
                None,
                STATS_PATH,
                "org.freedesktop.DBus.Properties",
                "PropertiesChanged",
                Some(&body),
            ) {
                eprintln!("sockeye: could not announce Capturing on the session bus: {err}");
            }
        }
    }
}

impl StatsExport {
    /// `GetStats` replies built so far (at most one per [`StatsExport::publish`]).
    pub fn replies_built(&self) -> u64 {
        self.published.borrow().replies_built
    }
}

impl Drop for StatsExport {
    fn drop(&mut self) {
        if let Some(id) = self.registration.take() {
            // Failing means the connection is already gone, and the object with it.
            let _ = self.connection.unregister_object(id);
        }
    }
}

#[cfg(test)]
mod tests;
