//! The seccomp half of the sandbox: a deny-list of system calls that capture never makes
//! after start-up, each failing with `EPERM` (not a kill: a library that probes one of them
//! gets an error it already handles, as it would without the capability).
//!
//! A deny-list, not an allow-list: the helper runs libpcap, zbus, tokio and glibc, whose
//! system calls change between versions; denying a call they need would break capture on
//! some distribution, while denying what only an attacker needs breaks nothing.
//!
//! Some are denied here although the dropped capabilities already refuse them (mount,
//! `bpf`, module loading): the filter also holds if a kernel bug or a namespace owned by the
//! helper ever gives a capability back. Only x86_64, aarch64 and riscv64 are covered (what
//! `seccompiler` knows); elsewhere [`deny`] says so and the helper goes on without it.

/// Why the filter could not be built or installed.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("cannot build the seccomp filter: {0}")]
    Build(#[source] seccompiler::BackendError),
    #[error("the seccomp filter has an unexpected shape")]
    Shape,
    #[error("cannot install the seccomp filter: {0}")]
    Install(#[source] seccompiler::Error),
}

/// What [`deny`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The filter is installed on every thread; `denied` system calls outright (and
    /// six more with some arguments).
    Installed { arch: &'static str, denied: usize },
    /// This architecture or kernel has no seccomp filter the helper can use.
    Unavailable { why: String },
}

impl Outcome {
    #[cfg(feature = "sandbox-probe")]
    /// A short word for the probe's report: `installed` or `unavailable`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Installed { .. } => "installed",
            Outcome::Unavailable { .. } => "unavailable",
        }
    }
}

/// The filter itself, on the architectures seccompiler knows; elsewhere [`deny`] only says
/// that there is none (the helper still builds there).
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
mod filter {
    use super::FilterError;
    use std::collections::BTreeMap;

    use seccompiler::{
        sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
        SeccompFilter, SeccompRule, TargetArch,
    };

    /// `kexec_file_load`, which libc does not name on riscv64 (the generic table's 294).
    #[cfg(not(target_arch = "riscv64"))]
    const SYS_KEXEC_FILE_LOAD: libc::c_long = libc::SYS_kexec_file_load;
    #[cfg(target_arch = "riscv64")]
    const SYS_KEXEC_FILE_LOAD: libc::c_long = 294;

    /// System calls denied outright, grouped by what an attacker would want them for.
    pub(super) const DENIED: &[(&str, libc::c_long)] = &[
        // Reading or changing another process: pid 1's memory, a root daemon's descriptors.
        // (`readlink` on /proc/PID/fd, the reason CAP_SYS_PTRACE is kept, is not among them.)
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("process_madvise", libc::SYS_process_madvise),
        ("pidfd_open", libc::SYS_pidfd_open),
        ("pidfd_getfd", libc::SYS_pidfd_getfd),
        ("pidfd_send_signal", libc::SYS_pidfd_send_signal),
        // A signal to a thread by id alone (glibc's raise and pthread_kill use tgkill).
        ("tkill", libc::SYS_tkill),
        ("kcmp", libc::SYS_kcmp),
        // Running another program (it would inherit the kept capabilities' reach).
        ("execve", libc::SYS_execve),
        ("execveat", libc::SYS_execveat),
        // Mounts: the connect log's detached tracefs is mounted before the filter goes on.
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("move_mount", libc::SYS_move_mount),
        ("open_tree", libc::SYS_open_tree),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("pivot_root", libc::SYS_pivot_root),
        ("chroot", libc::SYS_chroot),
        // Namespaces: without CAP_SYS_ADMIN the engine's setns already fails and it reads the
        // namespace's /proc/PID/net tables instead; the filter makes that permanent.
        ("setns", libc::SYS_setns),
        ("unshare", libc::SYS_unshare),
        // The kernel itself.
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", SYS_KEXEC_FILE_LOAD),
        ("reboot", libc::SYS_reboot),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("acct", libc::SYS_acct),
        ("quotactl", libc::SYS_quotactl),
        ("quotactl_fd", libc::SYS_quotactl_fd),
        ("settimeofday", libc::SYS_settimeofday),
        ("clock_settime", libc::SYS_clock_settime),
        ("clock_adjtime", libc::SYS_clock_adjtime),
        ("sethostname", libc::SYS_sethostname),
        ("setdomainname", libc::SYS_setdomainname),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        // Kernel attack surface the helper never uses (and io_uring's own file operations).
        ("userfaultfd", libc::SYS_userfaultfd),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
        // Opening any file by handle is what CAP_DAC_READ_SEARCH is classically abused for.
        ("name_to_handle_at", libc::SYS_name_to_handle_at),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        // Credentials: the capability drop is final (securebits locked); nothing changes ids.
        ("capset", libc::SYS_capset),
        ("setuid", libc::SYS_setuid),
        ("setgid", libc::SYS_setgid),
        ("setreuid", libc::SYS_setreuid),
        ("setregid", libc::SYS_setregid),
        ("setresuid", libc::SYS_setresuid),
        ("setresgid", libc::SYS_setresgid),
        ("setfsuid", libc::SYS_setfsuid),
        ("setfsgid", libc::SYS_setfsgid),
        ("setgroups", libc::SYS_setgroups),
    ];

    /// Terminal ioctls that push input into the terminal of whoever started `--trace` (a
    /// root shell under sudo): `TIOCSTI` (push a character) and `TIOCLINUX` (its console twin).
    const DENIED_IOCTLS: [u64; 2] = [0x5412, 0x541C];

    /// x86_64's x32 system calls carry this bit in their number, under the same audit
    /// architecture: a deny-list keyed by number would let `ptrace | X32_BIT` through.
    pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

    /// A system call number as seccompiler keys it.
    #[allow(clippy::useless_conversion)] // `c_long` is `i32` on 32-bit targets.
    pub(super) fn number(raw: libc::c_long) -> i64 {
        i64::from(raw)
    }

    /// One rule: argument `index` (32 bits) compared with `value`.
    fn when(index: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompRule, FilterError> {
        SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value)
            .and_then(|condition| SeccompRule::new(vec![condition]))
            .map_err(FilterError::Build)
    }

    /// Calls denied only with some arguments: `ioctl` with [`DENIED_IOCTLS`]; `socket` for a
    /// Unix socket (the helper's only one is inherited; a new one could reach systemd's or the
    /// system bus's root-only sockets); signals to any process but the helper itself (uid 0
    /// may signal every root process without `CAP_KILL`). `own_pid` is the helper's pid.
    pub(super) fn conditional_rules(
        own_pid: u32,
    ) -> Result<BTreeMap<i64, Vec<SeccompRule>>, FilterError> {
        let pid = u64::from(own_pid);
        let others = || when(0, SeccompCmpOp::Ne, pid).map(|rule| vec![rule]);
        let mut rules = BTreeMap::new();
        rules.insert(
            number(libc::SYS_ioctl),
            DENIED_IOCTLS
                .iter()
                .map(|&request| when(1, SeccompCmpOp::Eq, request))
                .collect::<Result<Vec<_>, _>>()?,
        );
        rules.insert(
            number(libc::SYS_socket),
            vec![when(0, SeccompCmpOp::Eq, libc::AF_UNIX as u64)?],
        );
        rules.insert(number(libc::SYS_kill), others()?);
        rules.insert(number(libc::SYS_tgkill), others()?);
        rules.insert(number(libc::SYS_rt_sigqueueinfo), others()?);
        rules.insert(number(libc::SYS_rt_tgsigqueueinfo), others()?);
        Ok(rules)
    }

    /// Builds the filter's BPF program for `arch`, for the process `own_pid`.
    pub(super) fn program(arch: TargetArch, own_pid: u32) -> Result<BpfProgram, FilterError> {
        let mut rules = conditional_rules(own_pid)?;
        for &(_, raw) in DENIED {
            rules.insert(number(raw), Vec::new());
        }
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )
        .map_err(FilterError::Build)?;
        let mut program = BpfProgram::try_from(filter).map_err(FilterError::Build)?;
        if arch == TargetArch::x86_64 {
            deny_x32(&mut program)?;
        }
        Ok(program)
    }

    /// BPF opcodes (`linux/bpf_common.h`) for the x32 check.
    const BPF_LD_W_ABS: u16 = 0x20;
    pub(super) const BPF_JMP_JGE_K: u16 = 0x35;
    const BPF_RET_K: u16 = 0x06;

    /// Inserts "number ≥ X32_SYSCALL_BIT → EPERM" right after seccompiler loads the system
    /// call number (its program opens with the three-instruction architecture check, then
    /// that load; every jump in it is relative and forward, so nothing before is displaced).
    fn deny_x32(program: &mut BpfProgram) -> Result<(), FilterError> {
        const LOAD_NR: usize = 3;
        let loads_nr = program
            .get(LOAD_NR)
            .is_some_and(|insn| insn.code == BPF_LD_W_ABS && insn.k == 0);
        if !loads_nr {
            return Err(FilterError::Shape);
        }
        let check = [
            sock_filter {
                code: BPF_JMP_JGE_K,
                jt: 0,
                jf: 1,
                k: X32_SYSCALL_BIT,
            },
            sock_filter {
                code: BPF_RET_K,
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
            },
        ];
        program.splice(LOAD_NR + 1..LOAD_NR + 1, check);
        Ok(())
    }
}

/// Installs the filter on every thread of the process (`SECCOMP_FILTER_FLAG_TSYNC`).
///
/// `Unavailable` for a kernel without seccomp filters (`EINVAL`, `ENOSYS`); an error for
/// anything else.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
pub fn deny() -> Result<Outcome, FilterError> {
    let arch =
        seccompiler::TargetArch::try_from(std::env::consts::ARCH).map_err(FilterError::Build)?;
    let program = filter::program(arch, std::process::id())?;
    match seccompiler::apply_filter_all_threads(&program) {
        Ok(()) => Ok(Outcome::Installed {
            arch: std::env::consts::ARCH,
            denied: filter::DENIED.len(),
        }),
        Err(seccompiler::Error::Seccomp(error))
            if matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) =>
        {
            Ok(Outcome::Unavailable {
                why: format!("the kernel has no seccomp filters ({error})"),
            })
        }
        Err(error) => Err(FilterError::Install(error)),
    }
}

/// No filter on this architecture: says so (the helper goes on without one).
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
pub fn deny() -> Result<Outcome, FilterError> {
    Ok(Outcome::Unavailable {
        why: format!(
            "seccomp filter not available on {} (x86_64, aarch64, riscv64 only)",
            std::env::consts::ARCH
        ),
    })
}

#[cfg(all(
    test,
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )
))]
mod tests {
    use super::filter::*;
    use seccompiler::TargetArch;

    #[test]
    fn each_system_call_is_denied_once() {
        let mut numbers: Vec<_> = DENIED.iter().map(|&(_, n)| n).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), DENIED.len());
        let conditional = conditional_rules(1).expect("rules");
        assert!(numbers
            .iter()
            .all(|n| !conditional.contains_key(&number(*n))));
    }

    #[test]
    fn the_engine_s_calls_after_start_up_are_not_denied() {
        // Capture (AF_PACKET sockets, ring mmap, poll), sock_diag, /proc reads, readlink
        // of /proc/PID/fd, threads and the D-Bus socket.
        for needed in [
            libc::SYS_socketpair,
            libc::SYS_bind,
            libc::SYS_setsockopt,
            libc::SYS_mmap,
            libc::SYS_ppoll,
            libc::SYS_openat,
            libc::SYS_readlinkat,
            libc::SYS_clone,
            libc::SYS_clone3,
            libc::SYS_sendmsg,
            libc::SYS_recvmsg,
            libc::SYS_prctl,
        ] {
            assert!(DENIED.iter().all(|&(_, n)| n != needed), "{needed}");
        }
    }

    #[test]
    fn x86_64_program_refuses_x32_numbers_right_after_loading_the_number() {
        let x86_64 = program(TargetArch::x86_64, 4321).expect("program");
        assert_eq!(x86_64[4].code, BPF_JMP_JGE_K);
        assert_eq!(x86_64[4].k, X32_SYSCALL_BIT);
        assert_eq!(x86_64[5].k, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32);
        // aarch64 has no such bit: its program is left as seccompiler built it.
        let aarch64 = program(TargetArch::aarch64, 4321).expect("program");
        assert_eq!(aarch64.len() + 2, x86_64.len());
    }
}
