//! Kubernetes name rules (DNS-1123 subdomain and label, DNS-1035 label, IANA service names).

/// A DNS-1123 subdomain (object names): at most 253 lowercase alphanumerics, `-` and `.`,
/// starting and ending alphanumeric. Returns what is wrong.
pub fn dns1123_subdomain(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > 253 {
        return Some(format!(
            "is {} characters long; at most 253 are allowed",
            name.len()
        ));
    }
    for label in name.split('.') {
        if let Some(why) = label_rule(label, false) {
            return Some(why);
        }
    }
    None
}

/// A DNS-1123 label (port names): at most 63 lowercase alphanumerics and `-`.
pub fn dns1123_label(name: &str) -> Option<String> {
    label_rule(name, false)
}

/// A DNS-1035 label (Service names): a DNS-1123 label that starts with a letter.
pub fn dns1035_label(name: &str) -> Option<String> {
    label_rule(name, true)
}

fn label_rule(label: &str, letter_first: bool) -> Option<String> {
    if label.is_empty() {
        return Some("must not be empty or contain empty parts".into());
    }
    if label.len() > 63 {
        return Some(format!(
            "is {} characters long; at most 63 are allowed",
            label.len()
        ));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("may contain only lowercase letters, digits and '-'".into());
    }
    let first = label.as_bytes()[0];
    if letter_first && !first.is_ascii_lowercase() {
        return Some("must start with a lowercase letter".into());
    }
    if first == b'-' || label.ends_with('-') {
        return Some("must start and end with a letter or digit".into());
    }
    None
}

/// An IANA service name (named container ports): at most 15 characters, lowercase alphanumerics
/// and `-`, at least one letter, no leading, trailing or double `-`.
pub fn iana_svc_name(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 15 {
        return Some("must be 1 to 15 characters".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("may contain only lowercase letters, digits and '-'".into());
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        return Some("must contain at least one letter".into());
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Some("must not start or end with '-' or contain '--'".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(dns1123_subdomain("podinfo"), None);
        assert_eq!(dns1123_subdomain("pod.info-1"), None);
        assert!(dns1123_subdomain("PodInfo").is_some());
        assert!(dns1123_subdomain("-x").is_some());
        assert!(dns1035_label("1abc").is_some());
        assert_eq!(dns1035_label("abc-1"), None);
        assert_eq!(iana_svc_name("http"), None);
        assert!(iana_svc_name("8080").is_some());
        assert!(iana_svc_name("a--b").is_some());
        assert!(dns1123_label(&"a".repeat(64)).is_some());
    }
}
