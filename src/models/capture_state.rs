//! The Network tab's state machine. Events come from the user (page shown or hidden, a
//! button) and from the helper (authorized, failed, died); each transition returns the
//! effects the page must carry out (launch the helper, send Start or Stop, drop it).
//!
//! ```text
//!            Start/Shown(auto)         Authorized
//!   Idle ───────────────────► Authorizing ───────► Connected { capturing = visible }
//!    ▲                            │  │                 │   Shown ⇒ Start, Hidden ⇒ Stop
//!    │          dismissed/denied/ │  │ exited/         │ helper died
//!    │          helper missing    ▼  ▼ mismatch        ▼
//!    │                        Refused   Failed ◄───────┘
//!    │                  Try Again │      │ Restart
//!    └────────────────────────────┴──────┴──► Authorizing
//! ```

/// Why the helper could not be started, as the launcher reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchFailure {
    /// The user cancelled the password dialog.
    Dismissed,
    /// The password was wrong or the user may not capture.
    NotAuthorized,
    /// `sockeye-helper` is not installed where it should be.
    HelperMissing(String),
    /// Someone but root can modify the helper (a per-user install): it is not run.
    HelperUnsafe(String),
    /// The helper started but exited before answering.
    HelperExited(String),
    /// The helper is a different version.
    ProtocolMismatch(String),
}

/// A launch failure that needs the user to try again (status page with "Try Again").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Dismissed,
    NotAuthorized,
    HelperMissing(String),
    /// The helper is not root's alone; Sockeye must be installed system-wide.
    HelperUnsafe(String),
}

/// A breakdown after or during launch (in-window error bar with "Restart").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    HelperExited(String),
    ProtocolMismatch(String),
    /// The helper runs but its capture ended with an error (no device, pcap failure…).
    CaptureFailed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureState {
    /// Never started: explain why administrator rights are needed.
    Idle,
    /// The helper is being started (password dialog up).
    Authorizing,
    /// The helper is running; it captures while the page is visible.
    Connected {
        capturing: bool,
    },
    Refused(Refusal),
    Failed(Failure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureEvent {
    Shown,
    Hidden,
    /// "Start Capture", "Try Again" or "Restart".
    StartRequested,
    Authorized,
    LaunchFailed(LaunchFailure),
    /// The helper's connection closed while it was running.
    HelperDied(String),
    /// The helper reported that its capture stopped on an error.
    CaptureFailed(String),
}

/// What the page must do after a transition, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Start the helper through the launcher.
    Launch,
    /// Send `Start` to the helper.
    Start,
    /// Send `Stop` to the helper.
    Stop,
    /// Drop the helper connection (the helper then exits).
    Disconnect,
}

#[derive(Debug, Clone)]
pub struct CaptureMachine {
    state: CaptureState,
    visible: bool,
    /// Launch as soon as the page is shown, without a click: when no password will be asked
    /// (running as root, or a fake source).
    launch_on_show: bool,
}

impl CaptureMachine {
    pub fn new(launch_on_show: bool) -> Self {
        Self {
            state: CaptureState::Idle,
            visible: false,
            launch_on_show,
        }
    }

    pub fn state(&self) -> &CaptureState {
        &self.state
    }

    /// Whether the helper is capturing right now (the `Capturing` property).
    pub fn is_capturing(&self) -> bool {
        self.state == CaptureState::Connected { capturing: true }
    }

    /// Applies an event and returns the effects to carry out.
    pub fn handle(&mut self, event: CaptureEvent) -> Vec<Effect> {
        use CaptureEvent as E;
        use CaptureState as S;
        match event {
            E::Shown => self.visible = true,
            E::Hidden => self.visible = false,
            _ => {}
        }
        let (next, effects) = match (&self.state, event) {
            (S::Idle, E::Shown) if self.launch_on_show => (S::Authorizing, vec![Effect::Launch]),
            (S::Idle | S::Refused(_), E::StartRequested) => (S::Authorizing, vec![Effect::Launch]),
            (S::Failed(_), E::StartRequested) => {
                (S::Authorizing, vec![Effect::Disconnect, Effect::Launch])
            }
            (S::Authorizing, E::Authorized) => {
                if self.visible {
                    (S::Connected { capturing: true }, vec![Effect::Start])
                } else {
                    (S::Connected { capturing: false }, vec![])
                }
            }
            (S::Authorizing, E::LaunchFailed(failure)) => match failure {
                LaunchFailure::Dismissed => (S::Refused(Refusal::Dismissed), vec![]),
                LaunchFailure::NotAuthorized => (S::Refused(Refusal::NotAuthorized), vec![]),
                LaunchFailure::HelperMissing(m) => (S::Refused(Refusal::HelperMissing(m)), vec![]),
                LaunchFailure::HelperUnsafe(m) => (S::Refused(Refusal::HelperUnsafe(m)), vec![]),
                LaunchFailure::HelperExited(m) => (S::Failed(Failure::HelperExited(m)), vec![]),
                LaunchFailure::ProtocolMismatch(m) => (
                    S::Failed(Failure::ProtocolMismatch(m)),
                    vec![Effect::Disconnect],
                ),
            },
            (S::Connected { capturing: false }, E::Shown) => {
                (S::Connected { capturing: true }, vec![Effect::Start])
            }
            (S::Connected { capturing: true }, E::Hidden) => {
                (S::Connected { capturing: false }, vec![Effect::Stop])
            }
            (S::Connected { .. }, E::CaptureFailed(m)) => {
                (S::Failed(Failure::CaptureFailed(m)), vec![])
            }
            (S::Connected { .. } | S::Authorizing, E::HelperDied(m)) => (
                S::Failed(Failure::HelperExited(m)),
                vec![Effect::Disconnect],
            ),
            (state, _) => (state.clone(), vec![]),
        };
        self.state = next;
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaptureEvent as E;

    fn authorized_and_visible() -> CaptureMachine {
        let mut m = CaptureMachine::new(false);
        m.handle(E::Shown);
        m.handle(E::StartRequested);
        m.handle(E::Authorized);
        m
    }

    #[test]
    fn showing_the_page_waits_for_the_button_when_a_password_is_needed() {
        let mut m = CaptureMachine::new(false);
        assert_eq!(m.handle(E::Shown), vec![]);
        assert_eq!(m.state(), &CaptureState::Idle);
        assert_eq!(m.handle(E::StartRequested), vec![Effect::Launch]);
        assert_eq!(m.state(), &CaptureState::Authorizing);
    }

    #[test]
    fn showing_the_page_launches_at_once_when_no_password_is_needed() {
        let mut m = CaptureMachine::new(true);
        assert_eq!(m.handle(E::Shown), vec![Effect::Launch]);
        assert_eq!(m.handle(E::Authorized), vec![Effect::Start]);
        assert!(m.is_capturing());
    }

    #[test]
    fn hiding_stops_and_showing_starts_again_without_a_new_launch() {
        let mut m = authorized_and_visible();
        assert!(m.is_capturing());
        assert_eq!(m.handle(E::Hidden), vec![Effect::Stop]);
        assert!(!m.is_capturing());
        assert_eq!(m.handle(E::Hidden), vec![]);
        assert_eq!(m.handle(E::Shown), vec![Effect::Start]);
        assert!(m.is_capturing());
    }

    #[test]
    fn authorized_while_hidden_does_not_capture_until_shown() {
        let mut m = CaptureMachine::new(false);
        m.handle(E::StartRequested);
        m.handle(E::Hidden);
        assert_eq!(m.handle(E::Authorized), vec![]);
        assert_eq!(m.state(), &CaptureState::Connected { capturing: false });
        assert_eq!(m.handle(E::Shown), vec![Effect::Start]);
    }

    #[test]
    fn a_dismissed_dialog_offers_try_again_and_is_not_asked_again_on_show() {
        let mut m = CaptureMachine::new(true);
        m.handle(E::Shown);
        m.handle(E::LaunchFailed(LaunchFailure::Dismissed));
        assert_eq!(m.state(), &CaptureState::Refused(Refusal::Dismissed));
        m.handle(E::Hidden);
        assert_eq!(m.handle(E::Shown), vec![]);
        assert_eq!(m.handle(E::StartRequested), vec![Effect::Launch]);
    }

    #[test]
    fn denied_missing_and_unsafe_helper_are_refusals() {
        for (failure, refusal) in [
            (LaunchFailure::NotAuthorized, Refusal::NotAuthorized),
            (
                LaunchFailure::HelperUnsafe("/home/a/sockeye-helper".into()),
                Refusal::HelperUnsafe("/home/a/sockeye-helper".into()),
            ),
            (
                LaunchFailure::HelperMissing("/usr/libexec/sockeye-helper".into()),
                Refusal::HelperMissing("/usr/libexec/sockeye-helper".into()),
            ),
        ] {
            let mut m = CaptureMachine::new(false);
            m.handle(E::StartRequested);
            m.handle(E::LaunchFailed(failure));
            assert_eq!(m.state(), &CaptureState::Refused(refusal));
        }
    }

    #[test]
    fn a_helper_crash_shows_an_error_and_restart_relaunches() {
        let mut m = authorized_and_visible();
        assert_eq!(
            m.handle(E::HelperDied("killed".into())),
            vec![Effect::Disconnect]
        );
        assert_eq!(
            m.state(),
            &CaptureState::Failed(Failure::HelperExited("killed".into()))
        );
        assert!(!m.is_capturing());
        assert_eq!(
            m.handle(E::StartRequested),
            vec![Effect::Disconnect, Effect::Launch]
        );
        assert_eq!(m.handle(E::Authorized), vec![Effect::Start]);
    }

    #[test]
    fn a_protocol_mismatch_is_a_failure_with_restart() {
        let mut m = CaptureMachine::new(false);
        m.handle(E::StartRequested);
        m.handle(E::LaunchFailed(LaunchFailure::ProtocolMismatch(
            "0.2.0".into(),
        )));
        assert_eq!(
            m.state(),
            &CaptureState::Failed(Failure::ProtocolMismatch("0.2.0".into()))
        );
    }

    #[test]
    fn a_capture_error_shows_an_error_and_restart_starts_a_fresh_helper() {
        let mut m = authorized_and_visible();
        assert_eq!(m.handle(E::CaptureFailed("no device".into())), vec![]);
        assert_eq!(
            m.state(),
            &CaptureState::Failed(Failure::CaptureFailed("no device".into()))
        );
        assert!(!m.is_capturing());
        assert_eq!(
            m.handle(E::StartRequested),
            vec![Effect::Disconnect, Effect::Launch]
        );
    }

    #[test]
    fn stray_events_change_nothing() {
        let mut m = CaptureMachine::new(false);
        assert_eq!(m.handle(E::Authorized), vec![]);
        assert_eq!(m.handle(E::HelperDied("x".into())), vec![]);
        assert_eq!(m.state(), &CaptureState::Idle);
        let mut m = authorized_and_visible();
        assert_eq!(m.handle(E::StartRequested), vec![]);
        assert!(m.is_capturing());
    }
}
