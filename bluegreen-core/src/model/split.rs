use super::Color;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A split of traffic between the two colors, in percent: each weight is in `0..=100` and they sum to 100.
///
/// The fields are private so that every value is valid; build one with [`TrafficSplit::new`],
/// [`TrafficSplit::all_to`] or [`TrafficSplit::shifted`].
///
/// ```
/// use bluegreen_core::{Color, TrafficSplit};
/// let split = TrafficSplit::new(90, 10)?;
/// assert_eq!(split.weight(Color::Green), 10);
/// assert!(TrafficSplit::new(90, 20).is_err());
/// # Ok::<(), bluegreen_core::SplitError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawSplit", into = "RawSplit")]
pub struct TrafficSplit {
    blue: u8,
    green: u8,
}

#[derive(Serialize, Deserialize)]
struct RawSplit {
    blue: u32,
    green: u32,
}

impl TryFrom<RawSplit> for TrafficSplit {
    type Error = SplitError;
    fn try_from(raw: RawSplit) -> Result<Self, SplitError> {
        TrafficSplit::new(raw.blue, raw.green)
    }
}

impl From<TrafficSplit> for RawSplit {
    fn from(s: TrafficSplit) -> Self {
        RawSplit {
            blue: s.blue.into(),
            green: s.green.into(),
        }
    }
}

/// Why a split is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// A weight above 100 %.
    #[error("{color} weight {weight} is out of range: a weight is a percentage, 0 to 100")]
    OutOfRange {
        /// The color whose weight is wrong.
        color: Color,
        /// The weight given.
        weight: u32,
    },
    /// Weights that do not add up to 100 %.
    #[error("weights blue {blue} + green {green} = {} must sum to 100", blue + green)]
    BadSum {
        /// The blue weight given.
        blue: u32,
        /// The green weight given.
        green: u32,
    },
}

impl TrafficSplit {
    /// A split with the given weights, or an error naming the weight that is wrong.
    pub fn new(blue: u32, green: u32) -> Result<Self, SplitError> {
        for (color, weight) in [(Color::Blue, blue), (Color::Green, green)] {
            if weight > 100 {
                return Err(SplitError::OutOfRange { color, weight });
            }
        }
        if blue + green != 100 {
            return Err(SplitError::BadSum { blue, green });
        }
        Ok(TrafficSplit {
            blue: blue as u8,
            green: green as u8,
        })
    }

    /// All traffic to `color`.
    pub fn all_to(color: Color) -> Self {
        Self::shifted(color, 100).expect("100 is a valid percentage")
    }

    /// `percent` to `target`, the rest to the other color.
    pub fn shifted(target: Color, percent: u32) -> Result<Self, SplitError> {
        if percent > 100 {
            return Err(SplitError::OutOfRange {
                color: target,
                weight: percent,
            });
        }
        match target {
            Color::Blue => Self::new(percent, 100 - percent),
            Color::Green => Self::new(100 - percent, percent),
        }
    }

    /// Load balancer weights (AWS allows 0..=999 per target group) as a percentage split, rounded to the
    /// nearest percent; `None` when both are zero (the listener would answer 503).
    ///
    /// ```
    /// use bluegreen_core::TrafficSplit;
    /// assert_eq!(TrafficSplit::from_weights(999, 333), Some(TrafficSplit::new(75, 25).unwrap()));
    /// assert_eq!(TrafficSplit::from_weights(0, 0), None);
    /// ```
    pub fn from_weights(blue: u32, green: u32) -> Option<Self> {
        let (b, g) = (u64::from(blue), u64::from(green));
        let pct = (b * 100 + (b + g) / 2).checked_div(b + g)? as u32;
        Self::new(pct, 100 - pct).ok()
    }

    /// The weight of `color`, 0 to 100.
    pub fn weight(self, color: Color) -> u32 {
        match color {
            Color::Blue => self.blue.into(),
            Color::Green => self.green.into(),
        }
    }

    /// The color that takes all traffic, if one does.
    pub fn sole_color(self) -> Option<Color> {
        Color::ALL.into_iter().find(|c| self.weight(*c) == 100)
    }
}

impl fmt::Display for TrafficSplit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blue {}% / green {}%", self.blue, self.green)
    }
}
