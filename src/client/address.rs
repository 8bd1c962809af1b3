//! Where the worker on this host listens, as its own settings say: an operator who
//! loads the unit's environment file gets a CLI that talks to that worker, whatever
//! port, address or TLS the file sets.

use std::net::IpAddr;

/// The URL of the worker configured by `COREBUILD_PORT`, `COREBUILD_BIND` and
/// `COREBUILD_TLS_CERT` (read through `var`): `http://127.0.0.1:3060` when none is set.
/// A worker bound to every address is reached on loopback (`localhost` over HTTPS,
/// the name a local certificate most likely has).
pub(super) fn local_worker_url(var: impl Fn(&str) -> Option<String>) -> String {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let tls = set("COREBUILD_TLS_CERT").is_some();
    let port = set("COREBUILD_PORT")
        .and_then(|p| p.trim().parse::<u16>().ok())
        .filter(|p| *p != 0)
        .unwrap_or(3060);
    let host = match set("COREBUILD_BIND").map(|b| b.trim().to_owned()) {
        None => None,
        Some(bind) => match bind.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => None,
            Ok(IpAddr::V6(v6)) => Some(format!("[{v6}]")),
            Ok(IpAddr::V4(v4)) => Some(v4.to_string()),
            Err(_) => Some(bind),
        },
    };
    let (scheme, host) = match (tls, host) {
        (true, host) => ("https", host.unwrap_or_else(|| "localhost".to_owned())),
        (false, host) => ("http", host.unwrap_or_else(|| "127.0.0.1".to_owned())),
    };
    format!("{scheme}://{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(vars: &[(&str, &str)]) -> String {
        local_worker_url(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_workers_own_settings_give_the_url() {
        assert_eq!(url(&[]), "http://127.0.0.1:3060");
        assert_eq!(url(&[("COREBUILD_PORT", "4100")]), "http://127.0.0.1:4100");
        assert_eq!(
            url(&[("COREBUILD_PORT", "4100"), ("COREBUILD_BIND", "0.0.0.0")]),
            "http://127.0.0.1:4100"
        );
        assert_eq!(
            url(&[("COREBUILD_BIND", "10.1.2.3")]),
            "http://10.1.2.3:3060"
        );
        assert_eq!(url(&[("COREBUILD_BIND", "::1")]), "http://[::1]:3060");
        assert_eq!(url(&[("COREBUILD_BIND", "::")]), "http://127.0.0.1:3060");
        assert_eq!(
            url(&[("COREBUILD_TLS_CERT", "/etc/corebuild/tls/cert.pem")]),
            "https://localhost:3060"
        );
        assert_eq!(
            url(&[
                ("COREBUILD_TLS_CERT", "/c.pem"),
                ("COREBUILD_BIND", "build-7.example.net")
            ]),
            "https://build-7.example.net:3060"
        );
        // Empty values are unset, as the worker reads them; a port the worker would
        // refuse does not make a URL of its own.
        assert_eq!(
            url(&[("COREBUILD_PORT", ""), ("COREBUILD_TLS_CERT", "")]),
            "http://127.0.0.1:3060"
        );
        assert_eq!(url(&[("COREBUILD_PORT", "0")]), "http://127.0.0.1:3060");
    }
}
