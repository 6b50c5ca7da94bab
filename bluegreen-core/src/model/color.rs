use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One of the two immutable environments behind the load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// The blue environment.
    Blue,
    /// The green environment.
    Green,
}

impl Color {
    /// Both colors, blue first.
    pub const ALL: [Color; 2] = [Color::Blue, Color::Green];

    /// The other color.
    ///
    /// ```
    /// use bluegreen_core::Color;
    /// assert_eq!(Color::Blue.other(), Color::Green);
    /// ```
    pub fn other(self) -> Color {
        match self {
            Color::Blue => Color::Green,
            Color::Green => Color::Blue,
        }
    }

    /// The lowercase name used in resource names (`blue`, `green`).
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A color name that is neither `blue` nor `green`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown color {0:?}: expected `blue` or `green`")]
pub struct UnknownColor(pub String);

impl FromStr for Color {
    type Err = UnknownColor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "blue" => Ok(Color::Blue),
            "green" => Ok(Color::Green),
            _ => Err(UnknownColor(s.to_string())),
        }
    }
}

/// A value for each color.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PerColor<T> {
    /// The blue color's value.
    pub blue: T,
    /// The green color's value.
    pub green: T,
}

impl<T> PerColor<T> {
    /// Builds a pair from a function of the color.
    pub fn from_fn(mut f: impl FnMut(Color) -> T) -> Self {
        PerColor {
            blue: f(Color::Blue),
            green: f(Color::Green),
        }
    }

    /// The value of `color`.
    pub fn get(&self, color: Color) -> &T {
        match color {
            Color::Blue => &self.blue,
            Color::Green => &self.green,
        }
    }

    /// The value of `color`, mutably.
    pub fn get_mut(&mut self, color: Color) -> &mut T {
        match color {
            Color::Blue => &mut self.blue,
            Color::Green => &mut self.green,
        }
    }
}
