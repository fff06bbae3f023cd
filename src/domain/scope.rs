//! Owns the authorization scopes a token may carry (ARCHITECTURE.md, GraphQL conventions).

use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every query and subscription except webhook endpoints and the event log.
    Read,
    /// Invoices, matches, ignore, sync, connect/disconnect, re-authorization.
    Write,
    /// Webhook endpoints, secrets, the event log, redelivery.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// Parses a space- or comma-separated scope list; unknown names are ignored, so an issuer
/// may put other products' scopes in the same token.
pub fn parse_scopes(list: &str) -> BTreeSet<Scope> {
    list.split([' ', ','])
        .filter_map(|s| Scope::parse(s.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_ignores_unknown() {
        let s = parse_scopes("read  write,other admin");
        assert_eq!(s.len(), 3);
        assert!(parse_scopes("").is_empty());
        assert!(
            parse_scopes("READ").is_empty(),
            "scope names are case-sensitive"
        );
    }
}
