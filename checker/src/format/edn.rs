//! Jepsen EDN histories. (Being written.)
use super::Hints;
use crate::error::Error;
use crate::history::History;

pub fn parse(source: &str, _text: &str) -> Result<(History, Hints), Error> {
    Err(Error::input(source, 0, "EDN import is not written yet"))
}
