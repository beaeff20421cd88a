//! Errors for bad input. Every message names where the problem is (file and line) and what was expected,
//! because the person reading it has a history file open, not our source code.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input is malformed or does not fit the chosen model.
    Input { source: String, line: u32, message: String },
    /// Reading the input failed.
    Io { source: String, message: String },
}

impl Error {
    pub fn input(source: &str, line: u32, message: impl Into<String>) -> Error {
        Error::Input { source: source.to_string(), line, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input { source, line: 0, message } => write!(f, "{source}: {message}"),
            Error::Input { source, line, message } => write!(f, "{source}:{line}: {message}"),
            Error::Io { source, message } => write!(f, "{source}: {message}"),
        }
    }
}

impl std::error::Error for Error {}
