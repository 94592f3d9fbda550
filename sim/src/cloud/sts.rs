//! The AWS STS stand-in: the Query API at `/` by GET or form POST, `Version=2011-06-15`:
//! `AssumeRoleWithWebIdentity` (a GitHub OIDC token), `AssumeRole` (SigV4-signed) and
//! `GetCallerIdentity` (presigned, as EKS tokens are, or signed), answering in STS's XML. Owns
//! STS's parameter rules and error shapes; must not verify signatures or keep books.

use super::aws::{MISMATCH, Refusal, presigned_caller, signed_request};
use super::http::{self, Arrived, param, xml_escape};
use super::state::{ACCOUNT, AwsKey, Cloud, IdentityError};
use crate::server::Response;
use std::time::Duration;

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const VERSION: &str = "2011-06-15";
/// The audience GitHub OIDC tokens for AWS carry.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";

fn sts_error(status: u16, code: &str, message: &str) -> Response {
    http::xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{NS}\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
            xml_escape(message),
            http::random_id()
        ),
    )
}

fn sts_refusal(r: Refusal) -> Response {
    match r {
        Refusal::Missing => sts_error(
            403,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ),
        Refusal::Malformed(m) => sts_error(400, "IncompleteSignature", &m),
        Refusal::UnknownKey => sts_error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
        Refusal::Expired => sts_error(
            400,
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
        Refusal::Mismatch => sts_error(403, "SignatureDoesNotMatch", MISMATCH),
        Refusal::Invalid(m) => sts_error(403, "SignatureDoesNotMatch", &m),
    }
}

fn sts_success(action: &str, result: &str) -> Response {
    http::xml(
        200,
        format!(
            "<{action}Response xmlns=\"{NS}\">\n  <{action}Result>\n{result}  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n",
            http::random_id()
        ),
    )
}

fn credentials_xml(key: &AwsKey, role_id: &str) -> String {
    format!(
        "    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n    <AssumedRoleUser>\n      <AssumedRoleId>{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n",
        key.access_key,
        key.secret,
        key.session_token.as_deref().unwrap_or_default(),
        key.expires.map(http::rfc3339).unwrap_or_default(),
        xml_escape(role_id),
        xml_escape(&key.arn)
    )
}

/// The STS stand-in (`/`): the Query API by GET or form POST.
pub fn serve(cloud: &Cloud, req: &Arrived) -> Response {
    if req.path != "/" {
        return sts_error(404, "UnknownOperation", "No such path");
    }
    let params = match req.method.as_str() {
        "POST" => req.body_params(),
        _ => req.query_params(),
    };
    let action = param(&params, "Action").unwrap_or_default();
    match param(&params, "Version") {
        None => {
            return sts_error(
                400,
                "MissingParameter",
                "The request must contain the parameter Version",
            );
        }
        Some(VERSION) => {}
        Some(v) => {
            let m = format!("Could not find operation {action} for version {v}");
            return sts_error(400, "InvalidAction", &m);
        }
    }
    match action {
        "AssumeRoleWithWebIdentity" => web_identity(cloud, &params),
        "AssumeRole" => assume_role(cloud, req, &params),
        "GetCallerIdentity" => caller_identity(cloud, req),
        "" => sts_error(400, "MissingAction", "Missing Action"),
        other => {
            let m = format!("Could not find operation {other} for version {VERSION}");
            sts_error(400, "InvalidAction", &m)
        }
    }
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, Box<Response>> {
    param(params, name).filter(|v| !v.is_empty()).ok_or_else(|| {
        Box::new(sts_error(
            400,
            "ValidationError",
            &format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(name)),
        ))
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// `(role ARN, session name, lifetime)` of an assume-role request.
fn role_request(
    cloud: &Cloud,
    params: &[(String, String)],
) -> Result<(String, String, Duration), Box<Response>> {
    let role = required(params, "RoleArn")?;
    let session = required(params, "RoleSessionName")?;
    let parts: Vec<&str> = role.splitn(6, ':').collect();
    let valid_arn = matches!(parts[..], ["arn", p, "iam", "", acct, res]
        if p.starts_with("aws") && acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit())
            && res.strip_prefix("role/").is_some_and(|n| !n.is_empty()));
    if !valid_arn {
        return Err(Box::new(sts_error(
            400,
            "ValidationError",
            "Request ARN is invalid",
        )));
    }
    let session_ok = (2..=64).contains(&session.len())
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
    if !session_ok {
        let m = format!(
            "1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        );
        return Err(Box::new(sts_error(400, "ValidationError", &m)));
    }
    let duration = match param(params, "DurationSeconds") {
        None => None,
        Some(d) => match d.parse::<u64>() {
            Ok(s) if (900..=43200).contains(&s) => Some(Duration::from_secs(s)),
            _ => {
                let m = format!(
                    "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"
                );
                return Err(Box::new(sts_error(400, "ValidationError", &m)));
            }
        },
    };
    Ok((
        role.to_string(),
        session.to_string(),
        cloud.lifetime(duration),
    ))
}

/// `arn:aws:sts::<acct>:assumed-role/<name>/<session>` and `AROA…:<session>`.
fn assumed(role: &str, session: &str) -> (String, String) {
    let name = role.rsplit('/').next().unwrap_or(role);
    let id = http::random_hex().to_uppercase();
    (
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}"),
        format!("AROA{}:{session}", &id[..17]),
    )
}

fn web_identity(cloud: &Cloud, params: &[(String, String)]) -> Response {
    let (role, session, lifetime) = match role_request(cloud, params) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let token = match required(params, "WebIdentityToken") {
        Ok(t) => t,
        Err(resp) => return *resp,
    };
    let subject = match cloud.web_identity(token, STS_AUDIENCE) {
        Ok(s) => s,
        Err(IdentityError::Expired) => {
            return sts_error(
                400,
                "ExpiredTokenException",
                "Token expired: current date/time must be before the expiration date/time.",
            );
        }
        Err(IdentityError::Audience(aud)) => {
            let m = format!("Incorrect token audience: {aud}");
            return sts_error(400, "InvalidIdentityToken", &m);
        }
        Err(IdentityError::Unknown) => {
            return sts_error(
                400,
                "InvalidIdentityToken",
                "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements",
            );
        }
    };
    if cloud.config.denied_roles.contains(&role) {
        return sts_error(
            403,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        );
    }
    let (arn, role_id) = assumed(&role, &session);
    let key = cloud.issue_aws(&arn, lifetime, true);
    let result = format!(
        "    <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n    <Audience>{STS_AUDIENCE}</Audience>\n{}    <Provider>arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com</Provider>\n",
        xml_escape(&subject),
        credentials_xml(&key, &role_id)
    );
    sts_success("AssumeRoleWithWebIdentity", &result)
}

fn assume_role(cloud: &Cloud, req: &Arrived, params: &[(String, String)]) -> Response {
    let caller = match signed_request(cloud, req, "sts", None) {
        Ok(k) => k,
        Err(r) => return sts_refusal(r),
    };
    let (role, session, lifetime) = match role_request(cloud, params) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    if cloud.config.denied_roles.contains(&role) {
        let m = format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role}",
            caller.arn
        );
        return sts_error(403, "AccessDenied", &m);
    }
    let (arn, role_id) = assumed(&role, &session);
    let key = cloud.issue_aws(&arn, lifetime, false);
    sts_success("AssumeRole", &credentials_xml(&key, &role_id))
}

fn caller_identity(cloud: &Cloud, req: &Arrived) -> Response {
    let presigned = req.header("authorization").is_none();
    let key = match presigned {
        true => presigned_caller(cloud, req),
        false => signed_request(cloud, req, "sts", None),
    };
    match key {
        Ok(key) => {
            let user_id = key.arn.rsplit('/').next().unwrap_or_default();
            let result = format!(
                "    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{ACCOUNT}</Account>\n",
                xml_escape(&key.arn),
                xml_escape(&format!("{}:{user_id}", key.access_key))
            );
            sts_success("GetCallerIdentity", &result)
        }
        Err(r) => sts_refusal(r),
    }
}
