//! The binary's own tests: they reach its exit codes and the clap command, which `tests/` cannot.

mod docs_agree;
mod fuzz;
