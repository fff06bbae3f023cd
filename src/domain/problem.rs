//! Owns the three failure states of a bank link (ARCHITECTURE.md, the three problem states): their stable codes, the human
//! message the user sees, and the way out.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Problem {
    /// Refresh token rejected, integration revoked or organization blocked.
    ConnectionBroken,
    /// Ponto was linked but no bank account was shared.
    NoAccountsActivated,
    /// An account's consent expired or its last synchronization failed with
    /// `authorizationInvalid`.
    ReauthorizationRequired,
    /// An account's consent expires soon.
    ReauthorizationExpiring,
}

impl Problem {
    pub const ALL: [Problem; 4] = [
        Problem::ConnectionBroken,
        Problem::NoAccountsActivated,
        Problem::ReauthorizationRequired,
        Problem::ReauthorizationExpiring,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Problem::ConnectionBroken => "CONNECTION_BROKEN",
            Problem::NoAccountsActivated => "NO_ACCOUNTS_ACTIVATED",
            Problem::ReauthorizationRequired => "REAUTHORIZATION_REQUIRED",
            Problem::ReauthorizationExpiring => "REAUTHORIZATION_EXPIRING",
        }
    }

    pub fn parse(code: &str) -> Option<Problem> {
        Problem::ALL.into_iter().find(|p| p.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            Problem::ConnectionBroken => "There is a problem connecting your account with Ponto.",
            Problem::NoAccountsActivated => {
                "Ponto was activated but you haven't activated any bank accounts."
            }
            Problem::ReauthorizationRequired => {
                "Ponto currently doesn't have access to some accounts."
            }
            Problem::ReauthorizationExpiring => {
                "Ponto's access to some accounts expires soon; renew it with your bank."
            }
        }
    }

    pub fn fix(self) -> &'static str {
        match self {
            Problem::ConnectionBroken => "Reconnect Ponto (connectPonto with reconnect: true).",
            Problem::NoAccountsActivated => {
                "Open Ponto and activate the slider next to each bank account to share."
            }
            Problem::ReauthorizationRequired | Problem::ReauthorizationExpiring => {
                "Re-authorize the account with your bank (requestReauthorization)."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for p in Problem::ALL {
            assert_eq!(Problem::parse(p.code()), Some(p));
            assert!(!p.message().is_empty() && !p.fix().is_empty());
        }
    }
}
