//! Owns the status vocabularies stored as text: what a Ponto connection, a bank account, a
//! payment match, a webhook endpoint and a delivery can be, written and read back as the same
//! type. An unknown word read from the database is an error, never a default.

/// A closed set of words for a column: `as_str` writes, `parse` reads (`None` for anything else).
macro_rules! string_enum {
    ($(#[$doc:meta])* $ty:ident { $($(#[$vdoc:meta])* $variant:ident => $s:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty { $($(#[$vdoc])* $variant),* }

        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $s),* }
            }
            pub fn parse(s: &str) -> Option<$ty> {
                match s { $($s => Some($ty::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// The organization's link to Ponto.
    ConnectionStatus {
        /// A row exists but no link completed yet.
        NotConnected => "NOT_CONNECTED",
        Connected => "CONNECTED",
        /// The link exists but does not work (`broken_reason` says why).
        Broken => "BROKEN",
        /// Unlinked on request; the data stays.
        Disconnected => "DISCONNECTED",
    }
);

/// Why Ponto refused us while the organization is blocked: the one broken state whose tokens we
/// keep using, because reading is how we learn it was unblocked.
pub const BLOCKED_REASON: &str = "organizationBlocked";

impl ConnectionStatus {
    /// The usable-link rule, the one place it is written: connected, or broken only because
    /// Ponto blocked the organization. The store's SQL condition is built from this too.
    pub fn usable(self, broken_reason: Option<&str>) -> bool {
        match self {
            ConnectionStatus::Connected => true,
            ConnectionStatus::Broken => broken_reason == Some(BLOCKED_REASON),
            ConnectionStatus::NotConnected | ConnectionStatus::Disconnected => false,
        }
    }
}

string_enum!(
    /// A bank account shared through Ponto.
    AccountStatus {
        Active => "ACTIVE",
        /// Switched off in Ponto (or unlinked); its history stays.
        Revoked => "REVOKED",
    }
);

string_enum!(
    /// Who made a payment match.
    MatchMethod {
        /// The reconciliation engine, on strong evidence.
        Automatic => "AUTOMATIC",
        /// A person.
        Manual => "MANUAL",
    }
);

string_enum!(
    /// What a payment match rests on (pinned in GraphQL).
    MatchRule {
        /// The transaction carries the invoice's structured reference (OGM/VCS or RF).
        StructuredReference => "STRUCTURED_REFERENCE",
        /// The invoice number stands in the remittance text and the amount is what is open.
        InvoiceNumber => "INVOICE_NUMBER",
        /// The open amount, from the invoice's counterparty IBAN, and no other invoice fits.
        AmountAndIban => "AMOUNT_AND_IBAN",
        /// A person allocated it.
        Manual => "MANUAL",
    }
);

string_enum!(
    /// What a suggestion (a likely payment the engine does not apply on its own) rests on.
    SuggestionBasis {
        /// The invoice's reference, but something stops automation: the invoice is already
        /// paid, the currency differs, another invoice carries it too, or a person undid it.
        StructuredReference => "STRUCTURED_REFERENCE",
        /// A reference that fails its check, one typing slip from the invoice's.
        NearReference => "NEAR_REFERENCE",
        /// The invoice number is mentioned but the amount is not what is open.
        InvoiceNumber => "INVOICE_NUMBER",
        /// Amount and IBAN fit, but so do other invoices.
        AmountAndIban => "AMOUNT_AND_IBAN",
        /// Only the counterparty's name is the invoice's.
        CounterpartyName => "COUNTERPARTY_NAME",
    }
);

string_enum!(
    /// What a person did to reconciliation, as the audit trail records it.
    AuditAction {
        TransactionMatched => "TRANSACTION_MATCHED",
        TransactionUnmatched => "TRANSACTION_UNMATCHED",
        SuggestionDismissed => "SUGGESTION_DISMISSED",
        TransactionIgnored => "TRANSACTION_IGNORED",
        TransactionRestored => "TRANSACTION_RESTORED",
        IgnoreRuleCreated => "IGNORE_RULE_CREATED",
        IgnoreRuleDeleted => "IGNORE_RULE_DELETED",
        SettingsChanged => "SETTINGS_CHANGED",
        WebhookEndpointCreated => "WEBHOOK_ENDPOINT_CREATED",
        WebhookEndpointUpdated => "WEBHOOK_ENDPOINT_UPDATED",
        WebhookEndpointDeleted => "WEBHOOK_ENDPOINT_DELETED",
        WebhookSecretRotated => "WEBHOOK_SECRET_ROTATED",
        WebhookTestSent => "WEBHOOK_TEST_SENT",
        WebhookRedelivered => "WEBHOOK_REDELIVERED",
        WebhookRecovered => "WEBHOOK_RECOVERED",
    }
);

string_enum!(
    /// A subscriber's webhook endpoint.
    EndpointStatus {
        Enabled => "ENABLED",
        Disabled => "DISABLED",
    }
);

string_enum!(
    /// What started an attempt of a delivery.
    AttemptTrigger {
        /// The retry schedule.
        Scheduled => "SCHEDULED",
        /// `redeliverWebhook`.
        Manual => "MANUAL",
        /// `recoverWebhookEndpoint`.
        Recovery => "RECOVERY",
        /// `sendTestWebhook`.
        Test => "TEST",
    }
);

string_enum!(
    /// Why an attempt got no answer, as a stable code (its `error` says it in words).
    AttemptError {
        /// The SSRF guard refused the address the host resolved to at delivery.
        TargetNotAllowed => "TARGET_NOT_ALLOWED",
        Timeout => "TIMEOUT",
        /// No connection (refused, unreachable) or the name did not resolve.
        ConnectionFailed => "CONNECTION_FAILED",
        /// The TLS handshake failed: a certificate not trusted, expired or not for the host.
        TlsFailed => "TLS_FAILED",
        /// The connection broke during the request or the answer.
        RequestFailed => "REQUEST_FAILED",
        /// The endpoint's secret could not be opened with this instance's keys.
        SecretUnavailable => "SECRET_UNAVAILABLE",
    }
);

string_enum!(
    /// One event's delivery to one endpoint.
    DeliveryStatus {
        Pending => "PENDING",
        Succeeded => "SUCCEEDED",
        Failed => "FAILED",
        /// Its endpoint was deleted before it was sent.
        Cancelled => "CANCELLED",
    }
);

string_enum!(
    /// A Ponto webhook we stored, on its way to its effect.
    InboundStatus {
        /// Waiting for a worker (or for its next attempt after a failed pull).
        Pending => "PENDING",
        /// Its effect is in place.
        Processed => "PROCESSED",
        /// Acknowledged without effect: an unknown type, or a link the user disconnected.
        Ignored => "IGNORED",
        /// Its Ponto organization is linked to no tenant yet; reconsidered when a link commits.
        Parked => "PARKED",
        /// Its pull kept failing; `retryInboundEvents` requeues it.
        Failed => "FAILED",
    }
);

string_enum!(
    /// How a browser flow through Ponto ended: stored on the flow, and sent back to the return
    /// URL as `ponto_status` (pinned words). Several mirror error codes or connection statuses
    /// on purpose; this is the flow's own vocabulary.
    FlowOutcome {
        /// Claimed by the callback while it talks to Ponto; never sent to a browser.
        InProgress => "IN_PROGRESS",
        Connected => "CONNECTED",
        NoAccountsActivated => "NO_ACCOUNTS_ACTIVATED",
        Reauthorized => "REAUTHORIZED",
        AccessDenied => "ACCESS_DENIED",
        /// Another tenant already links this Ponto organization, or a link exists.
        Conflict => "CONFLICT",
        Expired => "EXPIRED",
        UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_as_the_type_it_was_written_as() {
        for s in ConnectionStatus::ALL {
            assert_eq!(ConnectionStatus::parse(s.as_str()), Some(*s));
        }
        for s in AccountStatus::ALL {
            assert_eq!(AccountStatus::parse(s.as_str()), Some(*s));
        }
        for m in MatchMethod::ALL {
            assert_eq!(MatchMethod::parse(m.as_str()), Some(*m));
        }
        for r in MatchRule::ALL {
            assert_eq!(MatchRule::parse(r.as_str()), Some(*r));
        }
        for b in SuggestionBasis::ALL {
            assert_eq!(SuggestionBasis::parse(b.as_str()), Some(*b));
        }
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
        }
        for o in FlowOutcome::ALL {
            assert_eq!(FlowOutcome::parse(o.as_str()), Some(*o));
        }
        assert_eq!(
            ConnectionStatus::parse("connected"),
            None,
            "exact words only"
        );
    }

    #[test]
    fn only_a_connected_or_blocked_link_is_usable() {
        use ConnectionStatus::*;
        assert!(Connected.usable(None));
        assert!(Broken.usable(Some(BLOCKED_REASON)));
        assert!(!Broken.usable(Some("invalid_grant")));
        assert!(!Disconnected.usable(None) && !NotConnected.usable(None));
    }
}
