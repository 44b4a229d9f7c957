//! The errors the D-Bus methods reply with: argument errors under the standard
//! `org.freedesktop.DBus.Error.InvalidArgs` name, everything else as a typed
//! `io.github.sockeye.Capture1.Error.*` from the protocol crate.

use sockeye_engine::EngineError;
use sockeye_protocol::{CaptureError, INVALID_ARGS_ERROR};
use zbus::message::{Header, Message};
use zbus::names::ErrorName;
use zbus::DBusError;

#[derive(Debug)]
pub enum MethodError {
    InvalidArgs(String),
    Capture(CaptureError),
}

impl From<CaptureError> for MethodError {
    fn from(error: CaptureError) -> Self {
        MethodError::Capture(error)
    }
}

impl From<EngineError> for MethodError {
    fn from(error: EngineError) -> Self {
        MethodError::Capture(capture_error(&error))
    }
}

/// The typed D-Bus error for an engine error; the message is the engine's own sentence.
pub fn capture_error(error: &EngineError) -> CaptureError {
    let message = error.to_string();
    match error {
        EngineError::PermissionDenied(_) => CaptureError::PermissionDenied(message),
        EngineError::NoCaptureDevice => CaptureError::NoCaptureDevice(message),
        EngineError::NoSuchInterface(_) => CaptureError::NoSuchInterface(message),
        EngineError::Pcap { .. } => CaptureError::CaptureFailed(message),
        EngineError::Io { .. } => CaptureError::SystemTables(message),
    }
}

impl DBusError for MethodError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<Message> {
        match self {
            MethodError::InvalidArgs(message) => {
                Message::error(call, self.name())?.build(&(message.as_str(),))
            }
            MethodError::Capture(error) => error.create_reply(call),
        }
    }

    fn name(&self) -> ErrorName<'_> {
        match self {
            MethodError::InvalidArgs(_) => ErrorName::from_static_str_unchecked(INVALID_ARGS_ERROR),
            MethodError::Capture(error) => error.name(),
        }
    }

    fn description(&self) -> Option<&str> {
        match self {
            MethodError::InvalidArgs(message) => Some(message),
            MethodError::Capture(error) => error.description(),
        }
    }
}
