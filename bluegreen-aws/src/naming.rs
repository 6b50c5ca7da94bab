//! The resource naming convention.

use bluegreen_core::Color;
use std::fmt;

/// The names of one application's resources, by the convention of the operations guide:
/// `{environment}-{application}-alb`, `{environment}-{application}-{color}-tg`,
/// `{environment}-{application}-{color}-asg`.
///
/// ```
/// use bluegreen_aws::Naming;
/// use bluegreen_core::Color;
/// let n = Naming::new("poc", "poc-web")?;
/// assert_eq!(n.load_balancer(), "poc-poc-web-alb");
/// assert_eq!(n.target_group(Color::Green), "poc-poc-web-green-tg");
/// assert_eq!(n.auto_scaling_group(Color::Blue), "poc-poc-web-blue-asg");
/// # Ok::<(), bluegreen_aws::NamingError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    environment: String,
    application: String,
}

/// A name that AWS would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamingError {
    /// Empty, or characters other than letters, digits and hyphens, or a leading or trailing hyphen.
    #[error("{what} {value:?} is not a valid name part: use letters, digits and inner hyphens")]
    BadPart {
        /// `environment` or `application`.
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// A target group name longer than AWS's 32 characters.
    #[error("target group name {name:?} is {len} characters; AWS allows at most 32")]
    TooLong {
        /// The longest derived name.
        name: String,
        /// Its length.
        len: usize,
    },
}

impl Naming {
    /// Validates both parts, and that every derived name fits AWS's limits (target groups and load
    /// balancers: 32 characters).
    pub fn new(environment: &str, application: &str) -> Result<Self, NamingError> {
        for (what, value) in [("environment", environment), ("application", application)] {
            let ok = !value.is_empty()
                && !value.starts_with('-')
                && !value.ends_with('-')
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(NamingError::BadPart {
                    what,
                    value: value.to_string(),
                });
            }
        }
        let naming = Naming {
            environment: environment.to_string(),
            application: application.to_string(),
        };
        let longest = naming.target_group(Color::Green);
        if longest.len() > 32 {
            return Err(NamingError::TooLong {
                len: longest.len(),
                name: longest,
            });
        }
        Ok(naming)
    }

    fn prefix(&self) -> String {
        format!("{}-{}", self.environment, self.application)
    }

    /// `{environment}-{application}-alb`.
    pub fn load_balancer(&self) -> String {
        format!("{}-alb", self.prefix())
    }

    /// `{environment}-{application}-{color}-tg`.
    pub fn target_group(&self, color: Color) -> String {
        format!("{}-{color}-tg", self.prefix())
    }

    /// `{environment}-{application}-{color}-asg`.
    pub fn auto_scaling_group(&self, color: Color) -> String {
        format!("{}-{color}-asg", self.prefix())
    }

    /// The application key used for locks and the ownership tag: `{environment}/{application}`.
    pub fn application_key(&self) -> String {
        format!("{}/{}", self.environment, self.application)
    }
}

impl fmt::Display for Naming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.application_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused() {
        for (env, app) in [
            ("", "web"),
            ("poc", "-web"),
            ("poc", "web_1"),
            ("p oc", "web"),
        ] {
            assert!(
                matches!(Naming::new(env, app), Err(NamingError::BadPart { .. })),
                "{env:?} {app:?}"
            );
        }
        let err = Naming::new("production", "customer-portal-api").unwrap_err();
        assert_eq!(
            err.to_string(),
            "target group name \"production-customer-portal-api-green-tg\" is 39 characters; AWS allows at most 32"
        );
        assert_eq!(
            Naming::new("poc", "poc-web").unwrap().to_string(),
            "poc/poc-web"
        );
    }
}
