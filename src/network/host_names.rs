//! Reverse DNS through gio: the app's [`AddressResolver`], which asks the system's resolver
//! (`g_resolver_lookup_by_address`, hence the configured DNS server) for an address's PTR
//! name. What is asked, how often and what is kept is `models::reverse_dns`'s to decide.

use gtk::gio;
use gtk::prelude::*;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use crate::models::reverse_dns::AddressResolver;

/// The system's resolver, as gio reaches it.
#[derive(Debug, Default)]
pub struct GioResolver;

impl AddressResolver for GioResolver {
    fn lookup(&self, address: IpAddr) -> Pin<Box<dyn Future<Output = Option<String>>>> {
        let address = gio::InetAddress::from(address);
        Box::pin(async move {
            gio::Resolver::default()
                .lookup_by_address_future(&address)
                .await
                .ok()
                .map(|name| name.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real lookup through gio, of an address `/etc/hosts` names: glibc answers it from
    /// the file ("hosts: files dns"), so the test sends nothing to any DNS server.
    #[test]
    fn gio_names_the_loopback_address_from_etc_hosts() {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let first_name = hosts
            .lines()
            .map(|l| {
                l.split('#')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<Vec<_>>()
            })
            .find(|fields| fields.first() == Some(&"127.0.0.1"))
            .and_then(|fields| fields.get(1).map(|n| (*n).to_owned()));
        // Without the entry the lookup would go to the DNS server: refuse rather than send it.
        let Some(expected) = first_name else {
            panic!("/etc/hosts names no 127.0.0.1 (every Debian and Fedora system has it)");
        };
        let name = gtk::glib::MainContext::new()
            .block_on(GioResolver.lookup(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(name.as_deref(), Some(expected.as_str()));
    }
}
