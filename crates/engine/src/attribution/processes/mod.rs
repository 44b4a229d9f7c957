//! Which process holds a socket and what that process is: socket inode → pid from
//! `/proc/PID/fd` (holders/, fd_dir.rs), the holder of a closed or not yet installed socket
//! (closed.rs), and a process's name, command line, user and application id
//! (process_info.rs, users.rs, app_id.rs); the command line and Flatpak app id off the
//! capture thread, as their reads can hang (late_details/).

pub(super) mod app_id;
mod closed;
pub(super) mod fd_dir;
pub(super) mod holders;
pub(super) mod late_details;
pub(super) mod process_info;
pub(super) mod users;
