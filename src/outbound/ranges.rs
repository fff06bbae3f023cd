//! Owns which IP addresses are on the public internet, for the SSRF guard: the IANA
//! special-purpose ranges (loopback, private, link-local, shared, multicast, broadcast,
//! unspecified, documentation, benchmarking, reserved) are not, and an IPv6 address that
//! carries an IPv4 one (IPv4-mapped, IPv4-compatible, NAT64, 6to4) is judged as that IPv4.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// IPv4 ranges that are not publicly routable (IANA IPv4 Special-Purpose Address Registry).
const V4_NOT_PUBLIC: &[&str] = &[
    "0.0.0.0/8",       // "this network", the unspecified address
    "10.0.0.0/8",      // private
    "100.64.0.0/10",   // shared address space (carrier-grade NAT)
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local (cloud metadata lives here)
    "172.16.0.0/12",   // private
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // documentation (TEST-NET-1)
    "192.88.99.0/24",  // 6to4 relay anycast (deprecated)
    "192.168.0.0/16",  // private
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation (TEST-NET-2)
    "203.0.113.0/24",  // documentation (TEST-NET-3)
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, and 255.255.255.255 (broadcast)
];

/// IPv6 ranges inside global unicast (2000::/3) that are not publicly routable; everything
/// outside 2000::/3 (loopback, unspecified, unique-local, link-local, multicast, discard…) is
/// not either.
const V6_NOT_PUBLIC: &[&str] = &[
    // IETF protocol assignments: Teredo, benchmarking, ORCHID; the few anycast services inside
    // it that are reachable (AS112, AMT, PCP) are refused too — nobody's webhook receiver.
    "2001::/23",
    "2001:db8::/32", // documentation
    "3fff::/20",     // documentation
];

static V4: LazyLock<Vec<Ipv4Net>> = LazyLock::new(|| parse(V4_NOT_PUBLIC));
static V6: LazyLock<Vec<Ipv6Net>> = LazyLock::new(|| parse(V6_NOT_PUBLIC));
static GLOBAL_UNICAST: LazyLock<Ipv6Net> =
    LazyLock::new(|| "2000::/3".parse().expect("a valid range"));

fn parse<T: std::str::FromStr>(ranges: &[&str]) -> Vec<T> {
    ranges
        .iter()
        .map(|r| r.parse().ok().expect("a valid range"))
        .collect()
}

/// Whether a webhook may reach `ip` without it being listed in the configuration.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => GLOBAL_UNICAST.contains(&v6) && !V6.iter().any(|n| n.contains(&v6)),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !V4.iter().any(|n| n.contains(&ip))
}

/// The IPv4 address an IPv6 one carries: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d` (not `::` or `::1`), NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::`.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && !(ip.is_unspecified() || ip.is_loopback()) {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// The address an allow-list entry is compared with: an IPv6 address carrying an IPv4 one (see
/// [`embedded_v4`]) is that IPv4, so allowing an IPv6 range never lets loopback or a metadata
/// address in through it.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An allow-list entry as [`canonical`] compares: an IPv4-mapped range (`::ffff:10.0.0.0/104`)
/// is that IPv4 range.
pub fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 && v6.network().to_ipv4_mapped().is_some() => {
            let v4 = v6.network().to_ipv4_mapped().expect("checked");
            Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4)
        }
        _ => net,
    }
}

/// Whether `net` holds `ip` as [`canonical`] reads it.
pub fn contains(net: &IpNet, ip: IpAddr) -> bool {
    net.contains(&canonical(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn the_issue_s_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "127.255.255.254",
            "::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "10.0.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "224.0.0.1",
            "ff02::1",
            "192.0.2.7",
            "198.51.100.7",
            "203.0.113.7",
            "198.18.0.1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "100::1",
            "240.0.0.1",
        ] {
            assert!(!public(s), "{s} is not public");
        }
    }

    #[test]
    fn public_addresses_are() {
        for s in [
            "93.184.215.14",
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2a00:1450:4001:80b::200e",
            "2606:4700::6810:84e5",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(public(s), "{s} is public");
        }
    }

    #[test]
    fn an_allowed_ipv6_range_does_not_reach_ipv4_through_it() {
        let all_v6: IpNet = "::/0".parse().unwrap();
        assert!(contains(&all_v6, "2001:db8::1".parse().unwrap()));
        assert!(!contains(&all_v6, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(!contains(&all_v6, "64:ff9b::a9fe:a9fe".parse().unwrap()));
        assert!(!contains(&all_v6, "::127.0.0.1".parse().unwrap()));
        assert!(!contains(&all_v6, "2002:7f00:1::".parse().unwrap()));
        let mapped = canonical_net("::ffff:10.0.0.0/104".parse().unwrap());
        assert_eq!(mapped, "10.0.0.0/8".parse::<IpNet>().unwrap());
        assert!(contains(&mapped, "10.1.2.3".parse().unwrap()));
        let lo: IpNet = "127.0.0.1/32".parse().unwrap();
        assert!(contains(&lo, "::ffff:127.0.0.1".parse().unwrap()));
    }

    proptest! {
        /// Every IPv4 address is judged the same in each IPv6 form that carries it.
        #[test]
        fn ipv4_is_judged_the_same_in_every_ipv6_form(a in any::<u32>()) {
            let v4 = Ipv4Addr::from(a);
            let o = v4.octets();
            let want = is_public(IpAddr::V4(v4));
            let forms = [
                v4.to_ipv6_mapped(),
                Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([o[0], o[1]]), u16::from_be_bytes([o[2], o[3]])),
                Ipv6Addr::new(0x2002, u16::from_be_bytes([o[0], o[1]]), u16::from_be_bytes([o[2], o[3]]), 0, 0, 0, 0, 1),
            ];
            for f in forms {
                prop_assert_eq!(is_public(IpAddr::V6(f)), want, "{}", f);
            }
            // IPv4-compatible: never public when the IPv4 is not (:: and ::1 are not either).
            let compat = Ipv6Addr::new(0, 0, 0, 0, 0, 0, u16::from_be_bytes([o[0], o[1]]), u16::from_be_bytes([o[2], o[3]]));
            if !want {
                prop_assert!(!is_public(IpAddr::V6(compat)));
            }
        }
    }
}
