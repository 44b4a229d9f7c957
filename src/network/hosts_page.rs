//! The Network page's part in the Hosts view and in host names: asking the helper for its
//! hosts (`GetHosts`, on each update while the Hosts view shows or a search needs them), the
//! selected host's apps and connections, and reverse lookups of addresses no DNS answer
//! named (when the preference allows them).

use relm4::prelude::*;
use sockeye_protocol::{Connection, Host};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use super::details::{AppLine, DetailsInput};
use super::{NetworkCommand, NetworkInput, NetworkPage, NetworkView};
use crate::models::connection_groups::{remote_address, remote_ip};
use crate::models::hosts::HostData;
use crate::models::process_table::{group_key, RowKey};

/// Processes asked for their connections when a host is selected, at most.
const MAX_HOST_PIDS: usize = 20;

impl NetworkPage {
    /// Whether the hosts are wanted now: the Hosts view shows, or a search looks for
    /// processes by their hosts' names.
    fn hosts_wanted(&self) -> bool {
        self.view == NetworkView::Hosts || !self.query.trim().is_empty()
    }

    /// Asks the helper for its hosts, if wanted and not asked already.
    pub(super) fn fetch_hosts(&mut self, sender: &ComponentSender<Self>) {
        if !self.hosts_wanted() || self.hosts_pending || self.paused {
            return;
        }
        let Some(backend) = self.backend.clone() else {
            return;
        };
        self.hosts_pending = true;
        let generation = self.generation;
        sender.oneshot_command(
            async move { NetworkCommand::Hosts(generation, backend.hosts().await) },
        );
    }

    /// Takes the helper's hosts.
    pub(super) fn take_hosts(
        &mut self,
        result: Result<Vec<Host>, String>,
        sender: &ComponentSender<Self>,
    ) {
        self.hosts_pending = false;
        let hosts = match result {
            Ok(hosts) => {
                self.hosts_error = None;
                hosts
            }
            Err(error) => {
                self.hosts_error = Some(error);
                return;
            }
        };
        // Apps by the titles the table's application rows have ("Firefox", "Firefox (bob)").
        let applications = self.table.applications(&|id| self.app_info.name(id));
        let changes = {
            let table = &self.table;
            self.hosts.apply(&hosts, &|pid| {
                let row = table.row(&RowKey::Process(pid))?;
                Some(
                    applications
                        .get(&group_key(row))
                        .map_or_else(|| row.title.clone(), |(data, _)| data.title.clone()),
                )
            })
        };
        self.host_pids = self.hosts.pids_matching(&self.query);
        let work = self.row_work.get_mut();
        work.show_hosts(changes);
        if self.selected_host.is_some() {
            work.host_details = true;
            self.fetch_host_connections(sender);
        }
        self.look_up_unnamed_hosts(sender);
    }

    /// Asks for the selected host's connections: those of its processes that go to it.
    pub(super) fn fetch_host_connections(&self, sender: &ComponentSender<Self>) {
        let (Some(key), Some(backend)) = (self.selected_host.clone(), self.backend.clone()) else {
            return;
        };
        if self.view != NetworkView::Hosts {
            return;
        }
        let Some(host) = self.hosts.host(&key) else {
            return;
        };
        let pids: Vec<u32> = host.pids.iter().take(MAX_HOST_PIDS).copied().collect();
        sender.oneshot_command(async move {
            NetworkCommand::HostConnections(key, backend.connections_by_pid(pids).await)
        });
    }

    /// Shows the connections of the selected host among those its processes listed.
    pub(super) fn show_host_connections(&self, key: &str, by_pid: Vec<(u32, Vec<Connection>)>) {
        if self.selected_host.as_deref() != Some(key) {
            return;
        }
        let Some(host) = self.hosts.host(key) else {
            return;
        };
        let mut lines = Vec::new();
        for (pid, connections) in by_pid {
            let who = self
                .table
                .row(&RowKey::Process(pid))
                .map(|r| r.title.clone())
                .unwrap_or_else(|| pid.to_string());
            for c in connections {
                let to_host = if host.name.is_empty() {
                    c.remote_name.is_empty() && host.addresses.contains(&remote_address(&c.remote))
                } else {
                    c.remote_name == host.name
                };
                if to_host {
                    lines.push((who.clone(), c));
                }
            }
        }
        self.details.emit(DetailsInput::ListHostConnections(lines));
    }

    /// The apps of `host`'s processes: one line per application, with its icon.
    pub(super) fn host_apps(&self, host: &HostData) -> Vec<AppLine> {
        let applications = self.table.applications(&|id| self.app_info.name(id));
        let mut lines: Vec<(AppLine, usize)> = Vec::new();
        let mut seen = HashMap::new();
        for pid in &host.pids {
            let Some(row) = self.table.row(&RowKey::Process(*pid)) else {
                continue;
            };
            let key = group_key(row);
            if let Some(&i) = seen.get(&key) {
                let (_, count): &mut (AppLine, usize) = &mut lines[i];
                *count += 1;
                continue;
            }
            let name = applications
                .get(&key)
                .map(|(data, _)| data.title.clone())
                .unwrap_or_else(|| row.title.clone());
            seen.insert(key, lines.len());
            lines.push((
                AppLine {
                    name,
                    detail: String::new(),
                    icon: self.app_info.icon_for(row),
                },
                1,
            ));
        }
        lines
            .into_iter()
            .map(|(mut line, count)| {
                line.detail = gettextrs::ngettext(
                    "{} process talked to this host",
                    "{} processes talked to this host",
                    u32::try_from(count).unwrap_or(u32::MAX),
                )
                .replacen("{}", &count.to_string(), 1);
                line
            })
            .collect()
    }

    /// The names reverse lookups found for the unnamed remote addresses of `connections`;
    /// queues lookups for the others.
    pub(super) fn looked_up_names(
        &mut self,
        connections: &[Connection],
        sender: &ComponentSender<Self>,
    ) -> HashMap<String, String> {
        if !self.prefs.look_up_host_names {
            return HashMap::new();
        }
        let mut names = HashMap::new();
        for c in connections.iter().filter(|c| c.remote_name.is_empty()) {
            if let Some(ip) = remote_ip(&c.remote) {
                if let Some(name) = self.reverse.name(ip) {
                    names.insert(ip.to_string(), name.to_owned());
                }
            }
        }
        self.start_lookups(sender);
        names
    }

    /// Gives the hosts without a name the names reverse lookups found, and queues lookups
    /// for the others.
    fn look_up_unnamed_hosts(&mut self, sender: &ComponentSender<Self>) {
        if !self.prefs.look_up_host_names {
            return;
        }
        let addresses: Vec<IpAddr> = self
            .hosts
            .unnamed_addresses()
            .filter_map(|a| a.parse().ok())
            .collect();
        let mut found = Vec::new();
        for ip in addresses {
            if let Some(name) = self.reverse.name(ip) {
                found.push((ip, name.to_owned()));
            }
        }
        for (ip, name) in found {
            self.name_host(ip, &name);
        }
        self.start_lookups(sender);
    }

    /// Starts the reverse lookups that are due; each answers with `HostNameFound`.
    fn start_lookups(&mut self, sender: &ComponentSender<Self>) {
        if !self.prefs.look_up_host_names {
            return;
        }
        for address in self.reverse.due(Instant::now()) {
            let lookup = self.resolver.lookup(address);
            let input = sender.input_sender().clone();
            relm4::spawn_local(async move {
                let name = lookup.await;
                input.emit(NetworkInput::HostNameFound(address, name));
            });
        }
    }

    /// Takes a reverse lookup's answer.
    pub(super) fn host_name_found(
        &mut self,
        address: IpAddr,
        name: Option<String>,
        sender: &ComponentSender<Self>,
    ) {
        self.reverse.finished(address, name.clone());
        if let Some(name) = name {
            self.name_host(address, &name);
        }
        self.start_lookups(sender);
    }

    /// Titles the host of `address` with a reverse lookup's `name`.
    fn name_host(&mut self, address: IpAddr, name: &str) {
        if let Some(key) = self.hosts.set_looked_up(&address.to_string(), name) {
            let work = self.row_work.get_mut();
            work.show_hosts(crate::models::hosts::HostChanges {
                updated: vec![key.clone()],
                ..Default::default()
            });
            if self.selected_host.as_deref() == Some(key.as_str()) {
                work.host_details = true;
            }
        }
    }
}
