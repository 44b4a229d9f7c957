//! What a worker reads for one process: its command line and its Flatpak app id, between
//! two readings of its start time, so that details read while the pid was being reused
//! are never credited to the process asked for.

use super::{Late, Request};
use crate::attribution::processes::app_id::flatpak_app_id_of;
use crate::attribution::processes::process_info::{read_cmdline, start_time};
use std::path::Path;

/// The details read off the capture thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LateDetails {
    /// Command line, arguments joined by spaces (see `process_info::parse_cmdline`).
    pub cmdline: String,
    /// App id from the process's `/.flatpak-info`, when it has one.
    pub flatpak_app_id: Option<String>,
}

/// Reads the late details of `request`'s process below `proc_root`.
pub(super) fn read(proc_root: &Path, request: &Request) -> Late {
    let same_process = || {
        request
            .start_time
            .is_none_or(|start| start_time(proc_root, request.pid) == Some(start))
    };
    if !same_process() {
        return Late::Gone;
    }
    let dir = proc_root.join(request.pid.to_string());
    let details = LateDetails {
        cmdline: read_cmdline(&dir),
        flatpak_app_id: flatpak_app_id_of(&dir, request.uid),
    };
    if !same_process() {
        return Late::Gone;
    }
    Late::Read(details)
}
