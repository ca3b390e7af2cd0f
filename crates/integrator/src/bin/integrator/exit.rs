//! What `integrator` exits with, so that a script or a supervisor can tell
//! a flow that did its job from one that met a fault, and a fault from a
//! setup it cannot fix by retrying. One list: docs/unattended.md shows the
//! same, and tests/exit_codes.rs drives each code through the binary.

use std::process::ExitCode;

/// The exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The flow ran to its end without a fault, or every fault it met was
    /// caught by a handler that set `FAULT_HANDLED` to true.
    Success = 0,
    /// A fault no `onError` sequence caught (or a command that failed).
    Fault = 1,
    /// The flow or the command line is wrong (clap's usage errors are 2 too).
    Usage = 2,
    /// A fault was caught by an `onError` sequence that did not mark it
    /// handled: the flow went on, but what it was for may not have happened.
    HandledFault = 3,
    /// The configuration: the connector package, the price table, a port to
    /// listen on, a variable the command needs.
    Config = 4,
    /// The token store (or the spend ledger beside it) cannot be opened or
    /// read: corrupt, unreachable, the wrong key, unsafe permissions.
    Store = 5,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// The property a handler sets to true to say the fault it caught is dealt
/// with (`run` then exits 0).
pub const FAULT_HANDLED: &str = "FAULT_HANDLED";

/// A failure before anything runs, and the code it exits with.
pub struct Setup {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Setup {
    pub fn usage(error: impl Into<anyhow::Error>) -> Setup {
        Setup {
            exit: Exit::Usage,
            error: error.into(),
        }
    }
    pub fn config(error: impl Into<anyhow::Error>) -> Setup {
        Setup {
            exit: Exit::Config,
            error: error.into(),
        }
    }
    pub fn store(error: impl Into<anyhow::Error>) -> Setup {
        Setup {
            exit: Exit::Store,
            error: error.into(),
        }
    }
}

/// Says why nothing ran; exits with the setup's code.
pub fn setup_failed(e: Setup) -> ExitCode {
    eprintln!("error: {:#}", e.error);
    e.exit.into()
}
