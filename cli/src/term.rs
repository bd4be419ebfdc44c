//! Standard output that never panics.
//!
//! `println!` panics when stdout is a closed pipe (`simctl list | head`) or a full disk
//! (`simctl run X > /dev/full`). Everything simctl prints to stdout goes through [`outln!`]
//! instead:
//! - a closed pipe (`EPIPE`) means the reader has seen enough: printing stops quietly and the
//!   command finishes its work (a run still writes its report) with its usual exit code;
//! - any other write error is kept, printing stops, the command finishes its work, and
//!   [`exit_code`] turns the command's exit code into 2 with an error naming stdout.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;

enum State {
    Open,
    /// The reader went away: nothing more is printed, and that is not an error.
    Closed,
    /// Writing failed otherwise: nothing more is printed, and the command exits 2.
    Failed(std::io::Error),
}

static STDOUT: Mutex<State> = Mutex::new(State::Open);

/// Writes to stdout unless an earlier write failed; records the failure instead of panicking.
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut state = STDOUT.lock().unwrap_or_else(|e| e.into_inner());
    if !matches!(*state, State::Open) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        *state = if e.kind() == std::io::ErrorKind::BrokenPipe { State::Closed } else { State::Failed(e) };
    }
}

/// The exit code of a command whose work is done: `code`, unless writing to stdout failed for
/// another reason than a closed pipe (then 2, with the error on stderr).
pub fn exit_code(code: ExitCode) -> ExitCode {
    let state = STDOUT.lock().unwrap_or_else(|e| e.into_inner());
    match &*state {
        State::Failed(e) => {
            eprintln!("error: cannot write to stdout: {e} (the output was cut short; files were still written)");
            ExitCode::from(2)
        }
        State::Open | State::Closed => code,
    }
}

/// `println!` to stdout through [`write`]: never panics.
macro_rules! outln {
    () => {
        $crate::term::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::term::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to stdout through [`write`]: never panics.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::term::write(format_args!($($arg)*))
    };
}
