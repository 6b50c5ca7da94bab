//! A share of traffic to the tenth of a percent: the precision a load balancer's weights (0–999) carry.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A share of the traffic, 0 to 100 % in steps of 0.1 %: what a weight step gives the new color. Written
/// and read as a percentage (`10`, `0.5`, `12.5%`); serialized as a number, whole when it is whole, so
/// records written before shares had tenths read unchanged.
///
/// ```
/// use bluegreen_core::Share;
/// let half = "0.5%".parse::<Share>()?;
/// assert_eq!(half.per_mille(), 5);
/// assert_eq!(half.to_string(), "0.5%");
/// assert_eq!(Share::percent(10).to_string(), "10%");
/// assert!("0.25".parse::<Share>().is_err());
/// # Ok::<(), bluegreen_core::BadShare>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Share(u16);

/// A share that is not a percentage from 0 to 100 with at most one decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a share of traffic: a percentage from 0 to 100 with at most one decimal (0.5, 10, 12.5)"
)]
pub struct BadShare(pub String);

impl Share {
    /// No traffic.
    pub const NONE: Share = Share(0);
    /// All the traffic.
    pub const ALL: Share = Share(1000);

    /// A whole percentage; above 100 is clamped to 100 (use [`Share::checked_percent`] to refuse it).
    pub const fn percent(percent: u32) -> Share {
        if percent >= 100 {
            Share::ALL
        } else {
            Share(percent as u16 * 10)
        }
    }

    /// A whole percentage, `None` above 100.
    pub const fn checked_percent(percent: u32) -> Option<Share> {
        if percent > 100 {
            None
        } else {
            Some(Share(percent as u16 * 10))
        }
    }

    /// A share in tenths of a percent, `None` above 1000.
    pub const fn from_per_mille(per_mille: u32) -> Option<Share> {
        if per_mille > 1000 {
            None
        } else {
            Some(Share(per_mille as u16))
        }
    }

    /// The share in tenths of a percent, 0..=1000.
    pub const fn per_mille(self) -> u32 {
        self.0 as u32
    }

    /// The share in whole percent when it is whole.
    pub const fn whole_percent(self) -> Option<u32> {
        if self.0.is_multiple_of(10) {
            Some(self.0 as u32 / 10)
        } else {
            None
        }
    }

    /// The share as a percentage, `0.5` for half a percent.
    pub fn as_percent(self) -> f64 {
        f64::from(self.0) / 10.0
    }

    /// Whether this is no traffic at all.
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }

    /// Whether this is all the traffic.
    pub const fn is_all(self) -> bool {
        self.0 == 1000
    }
}

impl From<u32> for Share {
    /// A whole percentage, clamped to 100 (see [`Share::percent`]).
    fn from(percent: u32) -> Share {
        Share::percent(percent)
    }
}

impl PartialEq<u32> for Share {
    /// Equal to a whole percentage.
    fn eq(&self, percent: &u32) -> bool {
        self.whole_percent() == Some(*percent)
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.whole_percent() {
            Some(p) => write!(f, "{p}%"),
            None => write!(f, "{}.{}%", self.0 / 10, self.0 % 10),
        }
    }
}

impl FromStr for Share {
    type Err = BadShare;
    fn from_str(text: &str) -> Result<Share, BadShare> {
        let bad = || BadShare(text.to_string());
        let t = text.trim();
        let t = t.strip_suffix('%').unwrap_or(t).trim();
        let (whole, tenth) = match t.split_once('.') {
            Some((w, d)) if d.len() == 1 => (w, d),
            Some((w, "")) => (w, "0"),
            Some(_) => return Err(bad()),
            None => (t, "0"),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let tenth: u32 = tenth.parse().map_err(|_| bad())?;
        whole
            .checked_mul(10)
            .and_then(|w| w.checked_add(tenth))
            .and_then(Share::from_per_mille)
            .ok_or_else(bad)
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.whole_percent() {
            Some(p) => s.serialize_u32(p),
            None => s.serialize_f64(self.as_percent()),
        }
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Share, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Share;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage from 0 to 100 with at most one decimal")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Share, E> {
                u32::try_from(v)
                    .ok()
                    .and_then(Share::checked_percent)
                    .ok_or_else(|| E::custom(BadShare(v.to_string())))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Share, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(BadShare(v.to_string())))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Share, E> {
                let tenths = v * 10.0;
                if !(0.0..=1000.0).contains(&tenths) || (tenths - tenths.round()).abs() > 1e-6 {
                    return Err(E::custom(BadShare(v.to_string())));
                }
                Ok(Share(tenths.round() as u16))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Share, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_read_and_write_as_percentages() {
        for (text, per_mille) in [
            ("0.1", 1),
            ("0.5%", 5),
            ("10", 100),
            ("12.5", 125),
            ("100", 1000),
            ("7.", 70),
        ] {
            assert_eq!(
                text.parse::<Share>().unwrap().per_mille(),
                per_mille,
                "{text}"
            );
        }
        for text in ["", "-1", "0.25", "100.1", "1e1", "ten", ".5", "1,5"] {
            assert_eq!(text.parse::<Share>(), Err(BadShare(text.into())), "{text}");
        }
        let json = serde_json::to_string(&[Share::percent(10), "0.5".parse().unwrap()]).unwrap();
        assert_eq!(json, "[10,0.5]");
        let back: Vec<Share> = serde_json::from_str("[10,0.5,\"2.5%\"]").unwrap();
        assert_eq!(
            back.iter().map(|s| s.per_mille()).collect::<Vec<_>>(),
            [100, 5, 25]
        );
        assert!(serde_json::from_str::<Share>("0.05").is_err());
        assert!(serde_json::from_str::<Share>("101").is_err());
        assert!(serde_json::from_str::<Share>("-1").is_err());
        assert_eq!(Share::percent(10), 10);
        assert_ne!("0.5".parse::<Share>().unwrap(), 0);
    }
}
