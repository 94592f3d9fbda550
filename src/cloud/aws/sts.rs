//! AWS STS's Query API for the two calls that turn an identity into temporary credentials:
//! `AssumeRoleWithWebIdentity` (unsigned, with an OIDC token) and `AssumeRole` (SigV4-signed with
//! the credentials in hand). Requests are form-encoded POSTs to the STS endpoint with
//! `Version=2011-06-15`; answers and errors are XML
//! (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html>,
//! <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>,
//! <https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html>). Must not choose which
//! credentials to use.

use super::sigv4::{self, Credentials, Signing};
use crate::cloud::http::{FORM, form, short};
use crate::cloud::{Cloud, CloudError};
use std::time::SystemTime;

/// One STS call.
pub struct Call<'a> {
    /// `what` of the messages ("EKS token").
    pub what: &'a str,
    /// The STS endpoint.
    pub endpoint: &'a url::Url,
    /// The region STS is signed for.
    pub region: &'a str,
    /// The role to assume.
    pub role_arn: &'a str,
    /// The session name.
    pub session: &'a str,
}

/// `AssumeRoleWithWebIdentity` with `web_identity` (a JWT).
pub async fn with_web_identity(
    cloud: &Cloud,
    call: &Call<'_>,
    web_identity: &str,
) -> Result<Credentials, CloudError> {
    let req = cloud.post_form(
        call.endpoint.clone(),
        &[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", call.role_arn),
            ("RoleSessionName", call.session),
            ("WebIdentityToken", web_identity),
        ],
    );
    answer(cloud, call, "AssumeRoleWithWebIdentity", req).await
}

/// `AssumeRole`, signed with `creds`.
pub async fn assume_role(
    cloud: &Cloud,
    call: &Call<'_>,
    creds: &Credentials,
) -> Result<Credentials, CloudError> {
    let body = form(&[
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", call.role_arn),
        ("RoleSessionName", call.session),
    ]);
    let url = call.endpoint.as_str();
    let headers = [("content-type", FORM)];
    let signed = sigv4::sign(
        creds,
        &sigv4::Request {
            method: "POST",
            url,
            headers: &headers,
            body: body.as_bytes(),
        },
        &Signing::new(call.region, "sts"),
    )
    .map_err(|e| CloudError::Invalid(format!("{}: signing AssumeRole: {e}", call.what)))?;
    let mut req = cloud.client().post(url).header("content-type", FORM);
    for (k, v) in &signed.headers {
        req = req.header(k, v);
    }
    answer(cloud, call, "AssumeRole", req.body(body)).await
}

/// The credentials of a successful answer, or a refusal naming the call, the error code and
/// the role.
async fn answer(
    cloud: &Cloud,
    call: &Call<'_>,
    action: &str,
    req: reqwest::RequestBuilder,
) -> Result<Credentials, CloudError> {
    let step = format!("{}: {action}", call.what);
    let reply = cloud.send(&step, req).await?;
    if !reply.ok() {
        let code = tag(&reply.body, "Code").unwrap_or_else(|| format!("HTTP {}", reply.status));
        let message = tag(&reply.body, "Message").unwrap_or_else(|| short(&reply.body));
        return Err(CloudError::Refused(format!(
            "{step} returned {code} for role {}: {message}",
            call.role_arn
        )));
    }
    let creds = credentials(&reply.body)
        .ok_or_else(|| CloudError::Refused(format!("{step}: the answer holds no Credentials")))?;
    cloud.mask(&creds.secret_access_key);
    if let Some(t) = &creds.session_token {
        cloud.mask(t);
    }
    Ok(creds)
}

/// The `<Credentials>` of an AssumeRole* answer.
fn credentials(xml: &str) -> Option<Credentials> {
    let expires = tag(xml, "Expiration").and_then(|t| {
        aws_smithy_types::DateTime::from_str(&t, aws_smithy_types::date_time::Format::DateTime)
            .ok()
            .and_then(|d| SystemTime::try_from(d).ok())
    });
    Some(Credentials {
        access_key_id: tag(xml, "AccessKeyId")?,
        secret_access_key: tag(xml, "SecretAccessKey")?,
        session_token: tag(xml, "SessionToken"),
        expires,
    })
}

/// The text of the first `<name>` element (no attributes in STS answers), entities decoded.
pub fn tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(
        xml[start..end]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_credentials_and_errors() {
        let ok = "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s&amp;k</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2026-12-06T16:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        let c = credentials(ok).unwrap();
        assert_eq!(c.access_key_id, "ASIAX");
        assert_eq!(c.secret_access_key, "s&k");
        assert_eq!(c.session_token.as_deref(), Some("tok"));
        let at = c
            .expires
            .unwrap()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(at.as_secs(), 1_796_572_800);
        let err = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>";
        assert_eq!(tag(err, "Code").as_deref(), Some("AccessDenied"));
        assert!(credentials(err).is_none());
    }
}
