//! Owns where outbound webhooks may go until the SSRF guard exists: the hosts and address
//! ranges listed in `PB_WEBHOOK_ALLOWED_TARGETS`, over https (http only with
//! `PB_WEBHOOK_ALLOW_HTTP=true`). Checked when an endpoint is created or changed, and again
//! before each delivery, since the list may have changed since.

use crate::domain::input::{Problem, Refusal};
use ipnet::IpNet;
use std::net::IpAddr;
use url::{Host, Url};

/// The longest endpoint URL accepted.
pub const MAX_URL_CHARS: usize = 2000;

/// The configured targets: address ranges and exact host names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedTargets {
    nets: Vec<IpNet>,
    hosts: Vec<String>,
    allow_http: bool,
}

impl AllowedTargets {
    /// Reads `127.0.0.1/32, hooks.example.com, ::1` (a bare address is that one address).
    pub fn parse(spec: &str, allow_http: bool) -> Result<Self, String> {
        let mut out = Self {
            allow_http,
            ..Self::default()
        };
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Ok(net) = item.parse::<IpNet>() {
                out.nets.push(net.trunc());
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                out.nets.push(IpNet::from(ip));
            } else if let Ok(Host::Domain(d)) = Host::parse(item) {
                out.hosts.push(d.trim_end_matches('.').to_owned());
            } else {
                return Err(format!(
                    "PB_WEBHOOK_ALLOWED_TARGETS: {item:?} is neither an address range nor a host name"
                ));
            }
        }
        Ok(out)
    }

    /// The URL as it will be called, or why it may not be.
    pub fn check(&self, raw: &str) -> Result<Url, Refusal> {
        let refuse = |problem, message: &str| Refusal::new("url", problem, message);
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(refuse(Problem::Required, "a URL is required"));
        }
        if raw.chars().count() > MAX_URL_CHARS {
            return Err(Refusal::new(
                "url",
                Problem::TooLong,
                format!("at most {MAX_URL_CHARS} characters"),
            ));
        }
        let url = Url::parse(raw).map_err(|e| {
            Refusal::new("url", Problem::Invalid, format!("not an absolute URL: {e}"))
        })?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(refuse(
                    Problem::HttpsRequired,
                    "webhooks are sent over https only (PB_WEBHOOK_ALLOW_HTTP)",
                ));
            }
            _ => return Err(refuse(Problem::Invalid, "the URL must be https")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse(
                Problem::Invalid,
                "the URL must not contain credentials",
            ));
        }
        let allowed = match url.host() {
            Some(Host::Ipv4(ip)) => self.nets.iter().any(|n| n.contains(&IpAddr::V4(ip))),
            Some(Host::Ipv6(ip)) => {
                let ip = canonical(ip);
                self.nets.iter().any(|n| n.contains(&ip))
            }
            Some(Host::Domain(d)) => {
                let d = d.trim_end_matches('.');
                self.hosts.iter().any(|h| h.eq_ignore_ascii_case(d))
            }
            None => false,
        };
        if !allowed {
            return Err(refuse(
                Problem::TargetNotAllowed,
                "this host is not among the allowed webhook targets (PB_WEBHOOK_ALLOWED_TARGETS)",
            ));
        }
        Ok(url)
    }
}

/// An IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`) is that IPv4 address: allowing an IPv6 range never lets loopback or a
/// metadata address in through it.
fn canonical(ip: std::net::Ipv6Addr) -> IpAddr {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let o = ip.octets();
        return IpAddr::V4(std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    IpAddr::V6(ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn targets() -> AllowedTargets {
        AllowedTargets::parse("127.0.0.1/32, 10.1.0.0/16, ::1, Hooks.Example.com", false).unwrap()
    }

    fn problem(t: &AllowedTargets, url: &str) -> Option<Problem> {
        t.check(url).err().map(|r| r.problem)
    }

    #[test]
    fn listed_hosts_and_ranges_only() {
        let t = targets();
        for ok in [
            "https://127.0.0.1:8443/hook",
            "https://10.1.200.3/x",
            "https://[::1]/x",
            "https://hooks.example.com/a?b=c",
            "https://HOOKS.example.com./a",
            // 127.0.0.1 written as one number: the same address.
            "https://2130706433/",
        ] {
            assert_eq!(problem(&t, ok), None, "{ok}");
        }
        for (url, p) in [
            ("https://127.0.0.2/hook", Problem::TargetNotAllowed),
            ("https://10.2.0.1/", Problem::TargetNotAllowed),
            ("https://evil.hooks.example.com/", Problem::TargetNotAllowed),
            (
                "https://hooks.example.com.evil.org/",
                Problem::TargetNotAllowed,
            ),
            ("http://127.0.0.1/hook", Problem::HttpsRequired),
            ("ftp://127.0.0.1/", Problem::Invalid),
            ("https://user:pw@127.0.0.1/", Problem::Invalid),
            ("/relative", Problem::Invalid),
            ("  ", Problem::Required),
        ] {
            assert_eq!(problem(&t, url), Some(p), "{url}");
        }
        let long = format!("https://127.0.0.1/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(problem(&t, &long), Some(Problem::TooLong));
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_as_ipv4() {
        let t = AllowedTargets::parse("::/0", false).unwrap();
        assert_eq!(problem(&t, "https://[2001:db8::1]/"), None);
        for url in [
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
        ] {
            assert_eq!(problem(&t, url), Some(Problem::TargetNotAllowed), "{url}");
        }
        let t = AllowedTargets::parse("127.0.0.1/32", false).unwrap();
        assert_eq!(problem(&t, "https://[::ffff:127.0.0.1]/"), None);
    }

    #[test]
    fn http_only_when_allowed() {
        let t = AllowedTargets::parse("127.0.0.1/32", true).unwrap();
        assert_eq!(problem(&t, "http://127.0.0.1:9000/x"), None);
        assert!(AllowedTargets::parse("not a host!", false).is_err());
        // Nothing listed, nothing allowed.
        let none = AllowedTargets::parse("", true).unwrap();
        assert_eq!(
            problem(&none, "http://127.0.0.1/"),
            Some(Problem::TargetNotAllowed)
        );
    }

    proptest! {
        /// No address outside the listed ranges is ever accepted, however it is written.
        #[test]
        fn addresses_outside_the_ranges_are_refused(a in any::<u32>()) {
            let t = targets();
            let ip = std::net::Ipv4Addr::from(a);
            let inside = ip == std::net::Ipv4Addr::LOCALHOST || (a >> 16) == 0x0A01;
            let got = t.check(&format!("https://{ip}/")).is_ok();
            prop_assert_eq!(got, inside);
            // The decimal form parses to the same address.
            let got = t.check(&format!("https://{a}/")).is_ok();
            prop_assert_eq!(got, inside);
        }
    }
}
