//! `bluegreen.toml`: the library's [`Settings`](bluegreen::Settings) (every key, the template `init` writes and
//! their tests live in `bluegreen::settings`). Flags override `BLUEGREEN_*` variables, which override the file,
//! which overrides the defaults.

use crate::Failure;
pub use bluegreen::settings::*;
use std::path::Path;
use std::time::Duration;

/// Reads `path`; a parse error is one line naming the file and line.
pub fn load(path: &Path) -> Result<Settings, Failure> {
    Settings::load(path).map_err(Failure::bad_input)
}

/// `text` as a duration (`90s`, `3m`, `1h30m`), or bad input naming `what`.
pub fn duration(what: &str, text: &str) -> Result<Duration, Failure> {
    bluegreen::settings::duration(what, text).map_err(Failure::bad_input)
}
