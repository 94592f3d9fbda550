//! Who may call the simulated Kubernetes API: anyone, the holder of one fixed bearer token, or
//! whoever presents a token a caller-supplied check accepts (the cloud stand-ins' EKS, GKE and
//! AKS token verification). Owns the yes/no on an `Authorization` header; must not answer
//! requests, log them or know any token format.

use crate::SimConfig;
use std::sync::Arc;

/// A check on a bearer token (the header value without `Bearer `): `true` lets the request in.
#[derive(Clone)]
pub struct Authenticator(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl Authenticator {
    /// Wraps a check.
    pub fn new(check: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(check))
    }

    /// Whether the check accepts `token`.
    pub fn accepts(&self, token: &str) -> bool {
        (self.0)(token)
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator(..)")
    }
}

/// What an API request must carry.
#[derive(Clone, Debug, Default)]
pub enum BearerPolicy {
    /// Any credentials, or none.
    #[default]
    Open,
    /// `Authorization: Bearer <this token>`.
    Token(String),
    /// `Authorization: Bearer <t>` where the check accepts `t`.
    Check(Authenticator),
}

impl BearerPolicy {
    /// The policy a config asks for: its authenticator if set, else its token, else open.
    pub fn of(config: &SimConfig) -> Self {
        match (&config.authenticator, &config.token) {
            (Some(a), _) => Self::Check(a.clone()),
            (None, Some(t)) => Self::Token(t.clone()),
            (None, None) => Self::Open,
        }
    }

    /// Whether clients must authenticate (the tenant proxy then uses its own admin
    /// credentials upstream).
    pub fn required(&self) -> bool {
        !matches!(self, Self::Open)
    }

    /// Whether a request with this `Authorization` header value is let in.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let bearer = authorization.and_then(|h| h.strip_prefix("Bearer "));
        match self {
            Self::Open => true,
            Self::Token(t) => bearer == Some(t.as_str()),
            Self::Check(check) => bearer.is_some_and(|t| check.accepts(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_takes_precedence_over_the_token() {
        let config = SimConfig {
            token: Some("fixed".into()),
            authenticator: Some(Authenticator::new(|t| t == "good")),
            ..SimConfig::default()
        };
        let policy = BearerPolicy::of(&config);
        assert!(policy.required());
        assert!(policy.allows(Some("Bearer good")));
        assert!(!policy.allows(Some("Bearer fixed")));
        assert!(!policy.allows(Some("good")));
        assert!(!policy.allows(None));
    }

    #[test]
    fn open_and_fixed_token_policies() {
        assert!(BearerPolicy::Open.allows(None));
        let fixed = BearerPolicy::of(&SimConfig {
            token: Some("t".into()),
            ..SimConfig::default()
        });
        assert!(fixed.allows(Some("Bearer t")));
        assert!(!fixed.allows(Some("Bearer u")));
    }
}
