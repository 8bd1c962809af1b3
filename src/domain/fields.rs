//! Field-level domain types: each can only hold a value that passed its rules.

use std::fmt;

/// A request field that broke a rule; displays as `job.id: <what is wrong>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub(crate) field: String,
    pub(crate) message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every string ends up in env files, unit files or paths: a control character (an
/// injected newline above all) is refused everywhere.
pub(crate) fn text(field: &str, value: Option<String>) -> Result<Option<String>, FieldError> {
    match value {
        Some(v) if v.chars().any(char::is_control) => Err(FieldError::new(
            field,
            "must not contain control characters",
        )),
        other => Ok(other),
    }
}

/// A present, non-empty string without control characters.
pub(crate) fn required(field: &str, value: Option<String>) -> Result<String, FieldError> {
    match text(field, value)? {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(FieldError::new(field, "is required")),
    }
}

macro_rules! string_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub(crate) struct $name(String);

        impl $name {
            pub(crate) fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_type!(
    /// 1-128 of `[A-Za-z0-9._-]`, first an ASCII letter or digit: safe as a folder name.
    JobId
);
string_type!(
    /// An absolute `http` or `https` URL, kept as it was sent.
    HttpUrl
);
string_type!(
    /// `NN.NN`, such as `24.04`.
    UbuntuVersion
);
string_type!(
    /// An RFC 1123 host name.
    HostName
);
string_type!(
    /// A POSIX user name as Debian's `adduser` accepts it.
    UserName
);
string_type!(
    /// An S3 object key without a leading `/` and without empty, `.` or `..` segments.
    ArtifactKey
);

impl JobId {
    pub(crate) fn parse(field: &str, value: String) -> Result<Self, FieldError> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if value.is_empty() || value.len() > 128 {
            return Err(FieldError::new(field, "must be 1 to 128 characters"));
        }
        if !value.chars().all(ok_char) {
            return Err(FieldError::new(
                field,
                "may only hold A-Z, a-z, 0-9, '.', '_' and '-'",
            ));
        }
        if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(FieldError::new(field, "must start with a letter or digit"));
        }
        Ok(Self(value))
    }
}

impl HttpUrl {
    pub(crate) fn parse(field: &str, value: String) -> Result<Self, FieldError> {
        let url = url::Url::parse(&value)
            .map_err(|e| FieldError::new(field, format!("must be an absolute URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(FieldError::new(
                field,
                "must be an http or https URL with a host",
            ));
        }
        Ok(Self(value))
    }
}

impl UbuntuVersion {
    pub(crate) const DEFAULT: &'static str = "24.04";

    pub(crate) fn parse(field: &str, value: String) -> Result<Self, FieldError> {
        let b = value.as_bytes();
        let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
        if b.len() == 5 && digits(&b[..2]) && b[2] == b'.' && digits(&b[3..]) {
            Ok(Self(value))
        } else {
            Err(FieldError::new(field, "must look like 24.04"))
        }
    }

    pub(crate) fn default_version() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl HostName {
    pub(crate) fn parse(field: &str, value: String) -> Result<Self, FieldError> {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if value.len() > 253 || !value.split('.').all(label_ok) {
            return Err(FieldError::new(
                field,
                "must be an RFC 1123 host name (labels of 1-63 letters, digits and inner '-')",
            ));
        }
        Ok(Self(value))
    }

    /// `baseos-<job id>`, lower-cased, `_` and `.` turned into `-`, cut to one label.
    pub(crate) fn default_for(id: &JobId) -> Self {
        let mut name: String = format!("baseos-{}", id.as_str())
            .chars()
            .map(|c| match c {
                '_' | '.' => '-',
                c => c.to_ascii_lowercase(),
            })
            .take(63)
            .collect();
        while name.ends_with('-') {
            name.pop();
        }
        Self(name)
    }
}

impl UserName {
    pub(crate) const DEFAULT: &'static str = "baseos";

    pub(crate) fn parse(field: &str, value: String) -> Result<Self, FieldError> {
        let mut chars = value.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
        if value.len() > 32 || !first_ok || !rest_ok {
            return Err(FieldError::new(
                field,
                "must be a POSIX user name: a-z or '_' first, then a-z, 0-9, '_' or '-', at most 32",
            ));
        }
        Ok(Self(value))
    }

    pub(crate) fn default_user() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl ArtifactKey {
    pub(crate) fn parse(field: &str, value: String) -> Result<Self, FieldError> {
        if value.len() > 1024 {
            return Err(FieldError::new(field, "must be at most 1024 bytes"));
        }
        if value.starts_with('/') {
            return Err(FieldError::new(field, "must not start with '/'"));
        }
        if value
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(FieldError::new(
                field,
                "must not have empty, '.' or '..' segments",
            ));
        }
        Ok(Self(value))
    }

    /// The key's last segment, used as the artifact's file name.
    pub(crate) fn filename(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The content type the object is stored with, by extension.
    pub(crate) fn content_type(&self) -> &'static str {
        let name = self.filename();
        if name.ends_with(".iso") {
            "application/x-iso9660-image"
        } else if name.ends_with(".xz") {
            "application/x-xz"
        } else {
            "application/octet-stream"
        }
    }
}
