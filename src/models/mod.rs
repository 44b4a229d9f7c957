//! Headless models: everything the pages compute, with no GTK, unit-tested without a display.
//!
//! ```text
//! models
//! ├─ proc_net       /proc/net/dev and /proc/net/netstat text → counters
//! ├─ interfaces     /sys/class/net facts → interface kind; interface addresses
//! ├─ rates          counters → rates, fixed-length rate histories
//! ├─ overview       samples → per-interface and whole-machine rates (Overview tab)
//! ├─ capture_state  the Network tab's state machine (Idle → Authorizing → Capturing …)
//! ├─ process_table  helper updates → process, application and unattributed rows
//! ├─ hosts          GetHosts answers → host rows (Hosts view), search by host name
//! ├─ connection_groups  a process's connections grouped by host (details pane)
//! └─ reverse_dns    PTR lookups for unnamed addresses: which, cache, rate limits
//! ```

pub mod capture_state;
pub mod connection_groups;
pub mod hosts;
pub mod interfaces;
pub mod overview;
pub mod proc_net;
pub mod process_table;
pub mod rates;
pub mod reverse_dns;
