//! What the stand-ins share: the configuration, their own addresses, and the book of everything
//! they issued (OIDC tokens, AWS keys, Google and Entra access tokens) with its expiry, plus the
//! counters tests read. Owns "was this issued here, and is it still valid"; must not speak HTTP.

use super::CloudConfig;
use super::http::{random_hex, unix};
use super::jwt;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// The AWS account every stand-in identity belongs to.
pub const ACCOUNT: &str = "123456789012";
/// The subject of the stand-in GitHub OIDC tokens.
pub const SUBJECT: &str = "repo:canary-gate/demo:ref:refs/heads/main";
/// Their issuer.
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Requests each stand-in received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    /// GitHub's OIDC token endpoint.
    pub oidc: u64,
    /// AWS STS.
    pub sts: u64,
    /// The EKS API.
    pub eks: u64,
    /// Google STS.
    pub google_sts: u64,
    /// Google IAM Credentials.
    pub google_iam: u64,
    /// Google OAuth 2.0 (the JWT grant).
    pub google_oauth: u64,
    /// Microsoft Entra ID.
    pub entra: u64,
    /// Amazon Managed Prometheus.
    pub amp: u64,
}

/// Credentials the stand-ins issued, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Issued {
    /// GitHub OIDC tokens.
    pub oidc: u64,
    /// AWS session credentials from `AssumeRoleWithWebIdentity`.
    pub sts_web_identity: u64,
    /// AWS session credentials from `AssumeRole`.
    pub sts_assume_role: u64,
    /// Google federated tokens (STS token exchange).
    pub google_federated: u64,
    /// Google service-account tokens from `generateAccessToken`.
    pub google_impersonated: u64,
    /// Google service-account tokens from the JWT grant.
    pub google_jwt_grant: u64,
    /// Entra access tokens.
    pub entra: u64,
}

/// A snapshot of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudCounts {
    /// Requests per stand-in.
    pub requests: Requests,
    /// Credentials issued per kind.
    pub issued: Issued,
    /// Bearer tokens the authenticator accepted.
    pub bearer_accepted: u64,
    /// Bearer tokens the authenticator rejected.
    pub bearer_rejected: u64,
    /// Queries the AMP stand-in verified and passed to Prometheus.
    pub amp_forwarded: u64,
}

/// An AWS access key: a configured long-lived one or issued session credentials.
#[derive(Clone, Debug)]
pub struct AwsKey {
    /// `AKIA…`/`ASIA…`.
    pub access_key: String,
    /// The secret.
    pub secret: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
    /// When temporary credentials stop working.
    pub expires: Option<SystemTime>,
    /// The identity's ARN (`GetCallerIdentity`).
    pub arn: String,
}

/// What became of a key lookup.
pub enum KeyLookup {
    /// A usable key.
    Found(AwsKey),
    /// Issued here, expired.
    Expired,
    /// Never issued or configured.
    Unknown,
}

/// Why a web identity token (an OIDC JWT presented as an assertion) is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// Not issued by the OIDC stand-in and not registered.
    Unknown,
    /// Past its `exp`.
    Expired,
    /// Issued for another audience (the one it carries).
    Audience(String),
}

/// Kinds of Google access tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoogleKind {
    /// From STS token exchange.
    Federated,
    /// From `generateAccessToken`.
    Impersonated,
    /// From the JWT grant.
    JwtGrant,
}

struct OidcToken {
    audience: String,
    expires: SystemTime,
}

#[derive(Default)]
struct Books {
    oidc: HashMap<String, OidcToken>,
    registered: HashSet<String>,
    aws: HashMap<String, AwsKey>,
    google: HashMap<String, SystemTime>,
    entra: HashMap<String, (String, SystemTime)>,
    counts: CloudCounts,
}

/// The state every listener and the authenticator share.
pub struct Cloud {
    /// The configuration.
    pub config: CloudConfig,
    /// `127.0.0.1:<port>` of the STS stand-in (the host an EKS token must name).
    pub sts_host: String,
    /// The Google OAuth token URL (a JWT grant's `aud`).
    pub google_token_url: String,
    /// The client that passes AMP queries to Prometheus.
    pub upstream: Option<reqwest::Client>,
    books: Mutex<Books>,
}

impl Cloud {
    /// Empty books.
    pub fn new(
        config: CloudConfig,
        sts_host: String,
        google_token_url: String,
        upstream: Option<reqwest::Client>,
    ) -> Cloud {
        Cloud {
            config,
            sts_host,
            google_token_url,
            upstream,
            books: Mutex::new(Books::default()),
        }
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Updates the counters.
    pub fn count(&self, f: impl FnOnce(&mut CloudCounts)) {
        f(&mut self.books().counts);
    }

    /// A copy of the counters.
    pub fn counts(&self) -> CloudCounts {
        self.books().counts.clone()
    }

    /// Lifetime of issued credentials, capped by a requested one.
    pub fn lifetime(&self, requested: Option<Duration>) -> Duration {
        let ttl = self.config.access_token_ttl;
        requested.map_or(ttl, |r| r.min(ttl))
    }

    /// Mints a GitHub OIDC token for `audience` and remembers it.
    pub fn issue_oidc(&self, audience: &str) -> String {
        let now = SystemTime::now();
        let iat = unix(now);
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "standin"});
        let claims = serde_json::json!({
            "jti": super::http::random_id(), "iss": ISSUER, "aud": audience, "sub": SUBJECT,
            "repository": "canary-gate/demo", "repository_owner": "canary-gate",
            "ref": "refs/heads/main", "iat": iat, "nbf": iat, "exp": iat + 300,
        });
        let token = jwt::mint(&header, &claims);
        let mut books = self.books();
        books.oidc.insert(
            token.clone(),
            OidcToken {
                audience: audience.to_string(),
                expires: now + Duration::from_secs(300),
            },
        );
        books.counts.issued.oidc += 1;
        token
    }

    /// Accepts `token` as a web identity from now on, whatever its audience.
    pub fn register(&self, token: &str) {
        self.books().registered.insert(token.to_string());
    }

    /// The subject of a web identity token valid for `audience`.
    pub fn web_identity(&self, token: &str, audience: &str) -> Result<String, IdentityError> {
        let books = self.books();
        if books.registered.contains(token) {
            let sub = jwt::parts(token).and_then(|p| p.claims["sub"].as_str().map(str::to_string));
            return Ok(sub.unwrap_or_else(|| SUBJECT.to_string()));
        }
        let issued = books.oidc.get(token).ok_or(IdentityError::Unknown)?;
        if SystemTime::now() >= issued.expires {
            return Err(IdentityError::Expired);
        }
        if issued.audience != audience {
            return Err(IdentityError::Audience(issued.audience.clone()));
        }
        Ok(SUBJECT.to_string())
    }

    /// Session credentials for `arn` (an assumed-role ARN), valid for `lifetime`.
    pub fn issue_aws(&self, arn: &str, lifetime: Duration, web_identity: bool) -> AwsKey {
        let hex = random_hex().to_uppercase();
        let key = AwsKey {
            access_key: format!("ASIA{}", &hex[..16]),
            secret: format!("{}{}", random_hex(), &random_hex()[..8]),
            session_token: Some(format!("IQoJb3JpZ2luX2Vj{}{}", random_hex(), random_hex())),
            expires: Some(SystemTime::now() + lifetime),
            arn: arn.to_string(),
        };
        let mut books = self.books();
        books.aws.insert(key.access_key.clone(), key.clone());
        match web_identity {
            true => books.counts.issued.sts_web_identity += 1,
            false => books.counts.issued.sts_assume_role += 1,
        }
        key
    }

    /// The key behind an access key id.
    pub fn aws_key(&self, access_key: &str) -> KeyLookup {
        if let Some((id, secret)) = self
            .config
            .aws_static
            .iter()
            .find(|(id, _)| id == access_key)
        {
            return KeyLookup::Found(AwsKey {
                access_key: id.clone(),
                secret: secret.clone(),
                session_token: None,
                expires: None,
                arn: format!("arn:aws:iam::{ACCOUNT}:user/standin"),
            });
        }
        match self.books().aws.get(access_key) {
            None => KeyLookup::Unknown,
            Some(k) if k.expires.is_some_and(|e| SystemTime::now() >= e) => KeyLookup::Expired,
            Some(k) => KeyLookup::Found(k.clone()),
        }
    }

    /// A Google access token of `kind`, valid for `lifetime`.
    pub fn issue_google(&self, kind: GoogleKind, lifetime: Duration) -> (String, SystemTime) {
        let prefix = match kind {
            GoogleKind::Federated => "ya29.d.",
            GoogleKind::Impersonated | GoogleKind::JwtGrant => "ya29.c.",
        };
        let token = format!("{prefix}{}{}", random_hex(), random_hex());
        let expires = SystemTime::now() + lifetime;
        let mut books = self.books();
        books.google.insert(token.clone(), expires);
        let issued = &mut books.counts.issued;
        match kind {
            GoogleKind::Federated => issued.google_federated += 1,
            GoogleKind::Impersonated => issued.google_impersonated += 1,
            GoogleKind::JwtGrant => issued.google_jwt_grant += 1,
        }
        (token, expires)
    }

    /// Whether a Google access token was issued here and has not expired.
    pub fn google_valid(&self, token: &str) -> bool {
        self.books()
            .google
            .get(token)
            .is_some_and(|e| SystemTime::now() < *e)
    }

    /// Remembers an Entra access token for `scope`, valid for `lifetime`.
    pub fn record_entra(&self, token: &str, scope: &str, lifetime: Duration) {
        let mut books = self.books();
        let expires = SystemTime::now() + lifetime;
        books
            .entra
            .insert(token.to_string(), (scope.to_string(), expires));
        books.counts.issued.entra += 1;
    }

    /// Whether an Entra access token was issued here for `scope` and has not expired.
    pub fn entra_valid(&self, token: &str, scope: &str) -> bool {
        self.books()
            .entra
            .get(token)
            .is_some_and(|(s, e)| s == scope && SystemTime::now() < *e)
    }
}
