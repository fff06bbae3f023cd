//! Owns the SSRF guard's name resolution: a host name is resolved once per connection, every
//! address it resolves to is judged (public, or listed in `PB_WEBHOOK_ALLOWED_TARGETS`), and
//! the connection goes to exactly those addresses — no second lookup between the check and the
//! connect, so a name that changes its answer (DNS rebinding) cannot slip through. The lookup
//! itself is replaceable, so tests can play a name that changes its answer.

use super::targets::AllowedTargets;
use crate::domain::input::{Problem, Refusal};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// How long creating an endpoint waits for its host name to resolve; past it the name counts
/// as not resolving and is judged at delivery.
const CREATION_LOOKUP: Duration = Duration::from_secs(5);

/// A way of resolving host names to addresses.
pub trait Lookup: Send + Sync {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system resolver (`getaddrinfo`, through tokio).
struct System;

impl Lookup for System {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// The resolver deliveries use: the system's unless a test replaces it.
#[derive(Clone)]
pub struct HostLookup(Arc<dyn Lookup>);

impl HostLookup {
    pub fn new(lookup: impl Lookup + 'static) -> Self {
        Self(Arc::new(lookup))
    }

    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.0.lookup(host).await
    }
}

impl Default for HostLookup {
    fn default() -> Self {
        Self::new(System)
    }
}

impl std::fmt::Debug for HostLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostLookup")
    }
}

/// A delivery's host resolved to an address it may not reach. Found in a request error's source
/// chain, it makes the attempt's code `TARGET_NOT_ALLOWED`.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {addr}, which is not a public address (PB_WEBHOOK_ALLOWED_TARGETS)")]
pub struct TargetRefused {
    pub host: String,
    pub addr: IpAddr,
}

/// Where webhooks may go, with the resolver that checks names.
#[derive(Debug, Clone)]
pub struct TargetGuard {
    allowed: AllowedTargets,
    lookup: HostLookup,
}

impl TargetGuard {
    pub fn new(allowed: AllowedTargets, lookup: HostLookup) -> Self {
        Self { allowed, lookup }
    }

    /// The URL's own form and any literal address in it (see [`AllowedTargets::check`]).
    pub fn check(&self, raw: &str) -> Result<Url, Refusal> {
        self.allowed.check(raw)
    }

    /// [`TargetGuard::check`], then [`TargetGuard::check_name`].
    pub async fn check_resolving(&self, raw: &str) -> Result<Url, Refusal> {
        let url = self.check(raw)?;
        self.check_name(&url).await?;
        Ok(url)
    }

    /// For a URL [`TargetGuard::check`] accepted whose host is a name not listed: every address
    /// it resolves to now. A name that does not resolve (yet) is accepted: it is judged again
    /// at delivery.
    pub async fn check_name(&self, url: &Url) -> Result<(), Refusal> {
        if let Some(Host::Domain(host)) = url.host()
            && !self.allowed.lists_host(host)
            && let Ok(Ok(addrs)) =
                tokio::time::timeout(CREATION_LOOKUP, self.lookup.lookup(host)).await
            && let Some(addr) = addrs.into_iter().find(|a| !self.allowed.permits(*a))
        {
            return Err(Refusal::new(
                "url",
                Problem::TargetNotAllowed,
                format!(
                    "{host} resolves to {addr}, which is not a public address; list it in PB_WEBHOOK_ALLOWED_TARGETS to allow it"
                ),
            ));
        }
        Ok(())
    }

    /// The resolver for the delivery client: the addresses of a name, refused unless every one
    /// of them may be reached.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver(self.clone()))
    }
}

pub struct GuardedResolver(TargetGuard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = guard.lookup.lookup(&host).await?;
            if addrs.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host} resolves to no address"),
                )
                .into());
            }
            if !guard.allowed.lists_host(&host)
                && let Some(addr) = addrs.iter().find(|a| !guard.allowed.permits(**a))
            {
                return Err(TargetRefused { host, addr: *addr }.into());
            }
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The refusal behind a failed request, if the guard refused its host's address.
pub fn refused<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e TargetRefused> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<TargetRefused>() {
            return Some(r);
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fixed(HashMap<&'static str, Vec<IpAddr>>);

    impl Lookup for Fixed {
        fn lookup(
            &self,
            host: &str,
        ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
            let got =
                self.0.get(host).cloned().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such host")
                });
            Box::pin(async move { got })
        }
    }

    fn guard(listed: &str) -> TargetGuard {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let names = HashMap::from([
            ("public.example", vec![ip("93.184.215.14")]),
            ("mixed.example", vec![ip("93.184.215.14"), ip("10.0.0.7")]),
            ("loop.example", vec![ip("127.0.0.1")]),
            ("mapped.example", vec![ip("::ffff:169.254.169.254")]),
            ("inside.example", vec![ip("10.1.2.3")]),
        ]);
        TargetGuard::new(
            AllowedTargets::parse(listed, false).unwrap(),
            HostLookup::new(Fixed(names)),
        )
    }

    #[tokio::test]
    async fn a_name_is_judged_by_every_address_it_resolves_to() {
        let g = guard("");
        for ok in [
            "https://public.example/x",
            // Not resolving now: judged at delivery.
            "https://unknown.example/x",
        ] {
            assert!(g.check_resolving(ok).await.is_ok(), "{ok}");
        }
        for bad in [
            "https://mixed.example/x",
            "https://loop.example/x",
            "https://mapped.example/x",
            "https://inside.example/x",
        ] {
            let r = g.check_resolving(bad).await.unwrap_err();
            assert_eq!(r.problem, Problem::TargetNotAllowed, "{bad}");
        }
        // Listed by range or by name: allowed.
        let g = guard("10.0.0.0/8, loop.example");
        for ok in [
            "https://mixed.example/x",
            "https://inside.example/x",
            "https://loop.example/x",
        ] {
            assert!(g.check_resolving(ok).await.is_ok(), "{ok}");
        }
    }

    #[tokio::test]
    async fn the_delivery_resolver_refuses_with_a_findable_cause() {
        use reqwest::dns::Resolve;
        let r = guard("").resolver();
        let addrs: Vec<SocketAddr> = r
            .resolve("public.example".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs, ["93.184.215.14:0".parse::<SocketAddr>().unwrap()]);
        let Err(e) = r.resolve("mixed.example".parse().unwrap()).await else {
            panic!("a name with one private address is refused");
        };
        let why = refused(e.as_ref()).expect("the refusal is in the chain");
        assert_eq!(why.addr, "10.0.0.7".parse::<IpAddr>().unwrap());
        let Err(e) = r.resolve("unknown.example".parse().unwrap()).await else {
            panic!("an unknown name does not resolve");
        };
        assert!(
            refused(e.as_ref()).is_none(),
            "not resolving is not a refusal"
        );
    }
}
