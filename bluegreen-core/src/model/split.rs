use super::{Color, Share};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::{Hash, Hasher};

/// A split of traffic between the two colors, kept as the load balancer keeps it: one weight per color,
/// each `0..=999`, not both 0. A color's share is its weight over the sum (`1` and `999` give 0.1 %), and only
/// an exact 0 sends a color nothing.
///
/// Splits the tool writes are whole percentages ([`TrafficSplit::new`], [`TrafficSplit::shifted`]); a split
/// read from a listener keeps the weights found there ([`TrafficSplit::from_weights`]), so a listener set by
/// hand to 1/999 is not mistaken for one at rest. Two splits are equal when they give the same shares (`1/1`
/// equals `50/50`).
///
/// ```
/// use bluegreen_core::{Color, TrafficSplit};
/// let split = TrafficSplit::new(90, 10)?;
/// assert_eq!(split.weight(Color::Green), 10);
/// assert!(TrafficSplit::new(90, 20).is_err());
/// let by_hand = TrafficSplit::from_weights(1, 999).unwrap();
/// assert_eq!(by_hand.sole_color(), None);
/// assert_eq!(by_hand.to_string(), "blue 0.1% / green 99.9%");
/// # Ok::<(), bluegreen_core::SplitError>(())
/// ```
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(try_from = "RawSplit", into = "RawSplit")]
pub struct TrafficSplit {
    blue: u16,
    green: u16,
}

/// The largest weight a load balancer accepts for one target group.
pub const MAX_ALB_WEIGHT: u32 = 999;

#[derive(Serialize, Deserialize)]
struct RawSplit {
    blue: u32,
    green: u32,
}

impl TryFrom<RawSplit> for TrafficSplit {
    type Error = SplitError;
    fn try_from(raw: RawSplit) -> Result<Self, SplitError> {
        TrafficSplit::checked_weights(raw.blue, raw.green)
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
    /// A percentage above 100, or a load balancer weight above 999.
    #[error(
        "{color} weight {weight} is out of range: a percentage is 0 to 100, a load balancer weight 0 to 999"
    )]
    OutOfRange {
        /// The color whose weight is wrong.
        color: Color,
        /// The weight given.
        weight: u32,
    },
    /// Percentages that do not add up to 100, or two load balancer weights of 0.
    #[error("weights blue {blue} + green {green} = {} must sum to 100", blue + green)]
    BadSum {
        /// The blue weight given.
        blue: u32,
        /// The green weight given.
        green: u32,
    },
}

impl TrafficSplit {
    /// A split in whole percentages, or an error naming the weight that is wrong.
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
            blue: blue as u16,
            green: green as u16,
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

    /// `share` to `target`, the rest to the other color, in the smallest load balancer weights that carry it
    /// exactly: whole percentages as [`TrafficSplit::shifted`] writes them, tenths reduced (0.5 % is 199/1).
    ///
    /// ```
    /// use bluegreen_core::{Color, Share, TrafficSplit};
    /// let canary = TrafficSplit::to_share(Color::Green, "0.5".parse()?);
    /// assert_eq!((canary.alb_weight(Color::Blue), canary.alb_weight(Color::Green)), (199, 1));
    /// assert_eq!(canary.to_string(), "blue 99.5% / green 0.5%");
    /// assert_eq!(TrafficSplit::to_share(Color::Blue, Share::percent(25)), TrafficSplit::new(25, 75)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_share(target: Color, share: Share) -> Self {
        let m = share.per_mille();
        let (on, off) = match share.whole_percent() {
            Some(p) => (p, 100 - p),
            None => {
                // Not a multiple of 10, so the gcd with 1000 is at most 125 and neither weight reaches 1000.
                let (mut a, mut b) = (m, 1000 - m);
                while b != 0 {
                    (a, b) = (b, a % b);
                }
                (m / a, (1000 - m) / a)
            }
        };
        let (blue, green) = match target {
            Color::Blue => (on, off),
            Color::Green => (off, on),
        };
        TrafficSplit {
            blue: blue as u16,
            green: green as u16,
        }
    }

    /// Load balancer weights exactly as found (AWS allows 0..=999 per target group); `None` when both are zero
    /// (the listener would answer 503) or one is above 999.
    ///
    /// ```
    /// use bluegreen_core::TrafficSplit;
    /// assert_eq!(TrafficSplit::from_weights(999, 333), Some(TrafficSplit::new(75, 25).unwrap()));
    /// assert_ne!(TrafficSplit::from_weights(999, 1), Some(TrafficSplit::new(100, 0).unwrap()));
    /// assert_eq!(TrafficSplit::from_weights(0, 0), None);
    /// ```
    pub fn from_weights(blue: u32, green: u32) -> Option<Self> {
        Self::checked_weights(blue, green).ok()
    }

    fn checked_weights(blue: u32, green: u32) -> Result<Self, SplitError> {
        for (color, weight) in [(Color::Blue, blue), (Color::Green, green)] {
            if weight > MAX_ALB_WEIGHT {
                return Err(SplitError::OutOfRange { color, weight });
            }
        }
        if blue + green == 0 {
            return Err(SplitError::BadSum { blue, green });
        }
        Ok(TrafficSplit {
            blue: blue as u16,
            green: green as u16,
        })
    }

    /// `color`'s share in whole percent, rounded, except that 0 and 100 mean exactly nothing and exactly all:
    /// weights 1/999 give 1 and 99, never 0 and 100.
    pub fn weight(self, color: Color) -> u32 {
        self.share_in(color, 100)
    }

    /// `color`'s share in tenths of a percent (0..=1000), rounded, with 0 and 1000 only when exact: the
    /// precision load balancer weights carry.
    pub fn per_mille(self, color: Color) -> u32 {
        self.share_in(color, 1000)
    }

    /// `color`'s share as a person reads it, to the precision the weights carry: `10%`, `0.1%`, `33.3%`.
    pub fn percent_text(self, color: Color) -> String {
        let m = self.per_mille(color);
        if m.is_multiple_of(10) {
            format!("{}%", m / 10)
        } else {
            format!("{}.{}%", m / 10, m % 10)
        }
    }

    /// `color`'s share as a fraction of 1, exact up to floating point.
    pub fn share(self, color: Color) -> f64 {
        f64::from(self.alb_weight(color)) / f64::from(self.total())
    }

    /// The weight this split gives `color` on the load balancer, 0..=999: what is written and what was read.
    pub fn alb_weight(self, color: Color) -> u32 {
        match color {
            Color::Blue => self.blue.into(),
            Color::Green => self.green.into(),
        }
    }

    /// The color that takes all traffic, if one does: the other's weight is exactly 0.
    pub fn sole_color(self) -> Option<Color> {
        Color::ALL
            .into_iter()
            .find(|c| self.alb_weight(c.other()) == 0)
    }

    fn total(self) -> u32 {
        u32::from(self.blue) + u32::from(self.green)
    }

    fn share_in(self, color: Color, scale: u32) -> u32 {
        let (w, total) = (u64::from(self.alb_weight(color)), u64::from(self.total()));
        let rounded = ((w * u64::from(scale) + total / 2) / total) as u32;
        if w == 0 {
            0
        } else if w == total {
            scale
        } else {
            rounded.clamp(1, scale - 1)
        }
    }

    fn reduced(self) -> (u32, u32) {
        let (mut a, mut b) = (u32::from(self.blue), u32::from(self.green));
        while b != 0 {
            (a, b) = (b, a % b);
        }
        (u32::from(self.blue) / a, u32::from(self.green) / a)
    }
}

impl PartialEq for TrafficSplit {
    fn eq(&self, other: &Self) -> bool {
        u32::from(self.blue) * u32::from(other.green)
            == u32::from(other.blue) * u32::from(self.green)
    }
}

impl Eq for TrafficSplit {}

impl Hash for TrafficSplit {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.reduced().hash(state);
    }
}

impl fmt::Display for TrafficSplit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "blue {} / green {}",
            self.percent_text(Color::Blue),
            self.percent_text(Color::Green)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_hand_set_one_in_a_thousand_is_not_at_rest() {
        // Issue 21 item 7: 1/999 read as "all on green" (rounded to whole percents), i.e. at rest on the wrong
        // color; 999/1 as at rest on blue while green still got traffic.
        let s = TrafficSplit::from_weights(1, 999).unwrap();
        assert_eq!(s.sole_color(), None);
        assert_eq!((s.weight(Color::Blue), s.weight(Color::Green)), (1, 99));
        assert_eq!(
            (s.per_mille(Color::Blue), s.per_mille(Color::Green)),
            (1, 999)
        );
        assert_eq!(s.alb_weight(Color::Green), 999);
        assert_ne!(s, TrafficSplit::all_to(Color::Green));
        let s = TrafficSplit::from_weights(999, 1).unwrap();
        assert_eq!(s.sole_color(), None);
        assert_eq!(s.to_string(), "blue 99.9% / green 0.1%");
        assert_eq!(
            TrafficSplit::from_weights(0, 7).unwrap().sole_color(),
            Some(Color::Green)
        );
    }

    #[test]
    fn equal_shares_are_equal_splits_whatever_the_weights() {
        let half = TrafficSplit::new(50, 50).unwrap();
        let ones = TrafficSplit::from_weights(1, 1).unwrap();
        assert_eq!(half, ones);
        assert_eq!(ones.to_string(), "blue 50% / green 50%");
        let set: HashSet<_> = [half, ones, TrafficSplit::from_weights(999, 999).unwrap()].into();
        assert_eq!(set.len(), 1);
        assert_ne!(half, TrafficSplit::from_weights(500, 499).unwrap());
    }

    #[test]
    fn weights_are_kept_through_the_record() {
        let s = TrafficSplit::from_weights(1, 2).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"blue":1,"green":2}"#);
        let back: TrafficSplit = serde_json::from_str(&json).unwrap();
        assert_eq!(back.alb_weight(Color::Green), 2);
        assert_eq!(back.to_string(), "blue 33.3% / green 66.7%");
        assert!(serde_json::from_str::<TrafficSplit>(r#"{"blue":0,"green":0}"#).is_err());
        assert!(serde_json::from_str::<TrafficSplit>(r#"{"blue":1000,"green":0}"#).is_err());
        // Records written before weights were kept: whole percentages are weights too.
        let old: TrafficSplit = serde_json::from_str(r#"{"blue":90,"green":10}"#).unwrap();
        assert_eq!(old, TrafficSplit::new(90, 10).unwrap());
    }
}
