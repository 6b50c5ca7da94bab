//! The plain data of a deployment: colors, traffic splits, time.

mod color;
mod share;
mod split;
mod time;

pub use color::{Color, PerColor, UnknownColor};
pub use share::{BadShare, Share};
pub use split::{MAX_ALB_WEIGHT, SplitError, TrafficSplit};
pub use time::{Timestamp, Window};
