//! Owns where outbound webhooks may go, as far as the URL alone tells: https (http only with
//! `PB_WEBHOOK_ALLOW_HTTP=true`), no credentials, and a host that is a public address, a name,
//! or listed in `PB_WEBHOOK_ALLOWED_TARGETS` (CIDRs and host names). Names are judged by what
//! they resolve to in `guard`. Checked when an endpoint is created or changed, and again before
//! each delivery, since the configuration may have changed since.

use super::ranges;
use crate::domain::input::{Problem, Refusal};
use ipnet::IpNet;
use std::net::IpAddr;
use url::{Host, Url};

/// The longest endpoint URL accepted.
pub const MAX_URL_CHARS: usize = 2000;

/// The configured exceptions: address ranges and exact host names that may be reached although
/// they are not public.
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
                out.nets.push(ranges::canonical_net(net.trunc()));
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                out.nets.push(ranges::canonical_net(IpNet::from(ip)));
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

    /// Whether `ip` may be reached: public, or inside a listed range.
    pub fn permits(&self, ip: IpAddr) -> bool {
        ranges::is_public(ip) || self.nets.iter().any(|n| ranges::contains(n, ip))
    }

    /// Whether `host` is listed by name (trusted whatever it resolves to).
    pub fn lists_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// The URL as it will be called, or why it may not be. A literal address is judged here
    /// (the URL parser reads `127.1`, `0x7f.1` and `2130706433` as 127.0.0.1); a name only if
    /// it is a loopback name by definition (`localhost`, RFC 6761).
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
            Some(Host::Ipv4(ip)) => self.permits(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.permits(IpAddr::V6(ip)),
            Some(Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                self.lists_host(&d) || !(d == "localhost" || d.ends_with(".localhost"))
            }
            None => false,
        };
        if !allowed {
            return Err(refuse(
                Problem::TargetNotAllowed,
                "this address is not on the public internet; list it in PB_WEBHOOK_ALLOWED_TARGETS to allow it",
            ));
        }
        Ok(url)
    }
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
    fn public_listed_and_named_targets_only() {
        let t = targets();
        for ok in [
            "https://127.0.0.1:8443/hook",
            "https://10.1.200.3/x",
            "https://[::1]/x",
            "https://hooks.example.com/a?b=c",
            "https://HOOKS.example.com./a",
            // 127.0.0.1 written as one number: the same (listed) address.
            "https://2130706433/",
            "https://93.184.215.14/x",
            "https://[2a00:1450:4001:80b::200e]/x",
            // Names are judged by what they resolve to (guard).
            "https://evil.hooks.example.com/",
        ] {
            assert_eq!(problem(&t, ok), None, "{ok}");
        }
        for (url, p) in [
            ("https://127.0.0.2/hook", Problem::TargetNotAllowed),
            ("https://127.2/hook", Problem::TargetNotAllowed),
            ("https://0x7f.0.0.2/hook", Problem::TargetNotAllowed),
            ("https://10.2.0.1/", Problem::TargetNotAllowed),
            ("https://169.254.169.254/", Problem::TargetNotAllowed),
            ("https://[fe80::1]/", Problem::TargetNotAllowed),
            ("https://localhost/", Problem::TargetNotAllowed),
            ("https://api.localhost./", Problem::TargetNotAllowed),
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
        assert_eq!(problem(&t, "https://[fd00::1]/"), None, "listed");
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
        // Nothing listed: loopback refused.
        let none = AllowedTargets::parse("", true).unwrap();
        assert_eq!(
            problem(&none, "http://127.0.0.1/"),
            Some(Problem::TargetNotAllowed)
        );
    }

    proptest! {
        /// However an IPv4 address is written, it is accepted exactly when it is public or
        /// inside a listed range.
        #[test]
        fn every_spelling_of_an_address_is_judged_alike(a in any::<u32>()) {
            let t = targets();
            let ip = std::net::Ipv4Addr::from(a);
            let o = ip.octets();
            let want = ranges::is_public(IpAddr::V4(ip))
                || ip == std::net::Ipv4Addr::LOCALHOST
                || (a >> 16) == 0x0A01;
            for spelled in [
                ip.to_string(),
                a.to_string(),
                format!("{:#x}", a),
                format!("{}.{}", o[0], u32::from_be_bytes([0, o[1], o[2], o[3]])),
                format!("0{:o}.{}.{}.{}", o[0], o[1], o[2], o[3]),
                format!("[{}]", ip.to_ipv6_mapped()),
            ] {
                let got = t.check(&format!("https://{spelled}/")).is_ok();
                prop_assert_eq!(got, want, "{}", spelled);
            }
        }
    }
}
