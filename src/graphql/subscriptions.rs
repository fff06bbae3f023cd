//! Owns the subscription root: live views of the organization's event log (`live::follow`),
//! each yielding the object an event is about, read fresh when the event arrives. Every
//! subscription starts at the log's head when it is made (`events(after)` replays from a
//! cursor first); another organization's invoice or account is NOT_FOUND.

use super::bank::{BankAccount, PontoConnection, decode_account_id};
use super::errors::{GqlError, GqlResult};
use super::events::{Event, parse_types, start};
use super::invoices::{Invoice, decode_invoice_id};
use super::transactions::BankTransaction;
use super::{ContextExt, RequireScope};
use crate::domain::event::EventType;
use crate::domain::ids::{AccountId, InvoiceId, OrganizationId, TransactionId};
use crate::domain::scope::Scope;
use crate::error::AppError;
use crate::live::{Hub, retrying};
use crate::store::Store;
use crate::store::events::StoredEvent;
use async_graphql::{Context, ID, Subscription};
use futures::{Stream, StreamExt};
use uuid::Uuid;

use EventType as E;

const INVOICE_EVENTS: [EventType; 5] = [
    E::InvoicePaid,
    E::InvoicePartiallyPaid,
    E::InvoiceOverpaid,
    E::InvoicePaymentReversed,
    E::InvoicePaymentPending,
];

/// Events about one bank account: its balance, re-authorization, and being shared or not.
const ACCOUNT_EVENTS: [EventType; 6] = [
    E::BankAccountBalanceUpdated,
    E::BankAccountReauthorizationExpiring,
    E::BankAccountReauthorizationRequired,
    E::BankAccountReauthorized,
    E::BankAccountAdded,
    E::BankAccountRevoked,
];

/// Events that change what `PontoConnection` shows: its status and problems, and its accounts.
const CONNECTION_EVENTS: [EventType; 11] = [
    E::ConnectionConnected,
    E::ConnectionDisconnected,
    E::ConnectionBroken,
    E::ConnectionNoAccountsActivated,
    E::ConnectionRestored,
    E::BankAccountBalanceUpdated,
    E::BankAccountReauthorizationExpiring,
    E::BankAccountReauthorizationRequired,
    E::BankAccountReauthorized,
    E::BankAccountAdded,
    E::BankAccountRevoked,
];

/// The id an event's data names under `key` (`invoiceId`, `accountId`, `transactionId`).
fn data_id(e: &StoredEvent, key: &str) -> Option<Uuid> {
    let envelope: serde_json::Value = serde_json::from_str(&e.payload).ok()?;
    Uuid::parse_str(envelope["data"][key].as_str()?).ok()
}

/// Where a live view starts: the caller's organization and the log's head.
struct Start {
    hub: Hub,
    store: Store,
    org: OrganizationId,
    head: i64,
}

async fn live_start(ctx: &Context<'_>) -> GqlResult<Start> {
    let org = ctx.principal()?.organization_id;
    let store = ctx.store()?.clone();
    let hub = ctx.hub()?.clone();
    let head = store.event_log_bounds(org).await?.last;
    Ok(Start {
        hub,
        store,
        org,
        head,
    })
}

/// The account `account_id` names, checked to be the caller's.
async fn own_account(
    store: &Store,
    org: OrganizationId,
    account_id: Option<ID>,
) -> GqlResult<Option<Uuid>> {
    let Some(id) = account_id else {
        return Ok(None);
    };
    let id = decode_account_id(&id)?;
    match store.account(org, id).await? {
        Some(_) => Ok(Some(id.0)),
        None => Err(AppError::not_found("bank account").into()),
    }
}

/// Events of `types` whose `key` names `only` (any when `None`), as the ids they name.
fn ids_of(
    s: &Start,
    types: &[EventType],
    key: &'static str,
    only: Option<Uuid>,
) -> impl Stream<Item = (StoredEvent, Uuid)> + Send + 'static + use<> {
    s.hub
        .follow(s.org, s.head, types.to_vec())
        .filter_map(move |e| {
            let id = data_id(&e, key).filter(|id| only.is_none_or(|o| o == *id));
            std::future::ready(id.map(|id| (e, id)))
        })
}

/// Transactions named by events of `types` (of one account when `only`), read fresh.
fn transactions(
    s: Start,
    types: &[EventType],
    only: Option<Uuid>,
) -> impl Stream<Item = BankTransaction> + Send + 'static + use<> {
    let (store, org) = (s.store.clone(), s.org);
    ids_of(&s, types, "accountId", only).filter_map(move |(e, _)| {
        let store = store.clone();
        async move {
            let id = TransactionId(data_id(&e, "transactionId")?);
            retrying(|| store.transaction(org, id))
                .await
                .map(BankTransaction::from)
        }
    })
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// An invoice's payment status changed (paid, partially paid, overpaid, a payment pending
    /// or reversed): the invoice as it is now. Of one invoice when `invoiceId` is given.
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn invoice_payment_status_changed(
        &self,
        ctx: &Context<'_>,
        invoice_id: Option<ID>,
    ) -> Result<impl Stream<Item = Invoice>, GqlError> {
        let s = live_start(ctx).await?;
        let (store, org) = (s.store.clone(), s.org);
        let only = match invoice_id {
            None => None,
            Some(id) => {
                let found = match decode_invoice_id(&id) {
                    Some(id) => store.invoice(org, id).await?,
                    None => None,
                };
                Some(found.ok_or_else(|| AppError::not_found("invoice"))?.id.0)
            }
        };
        Ok(
            ids_of(&s, &INVOICE_EVENTS, "invoiceId", only).filter_map(move |(_, id)| {
                let store = store.clone();
                async move {
                    retrying(|| store.invoice(org, InvoiceId(id)))
                        .await
                        .map(Invoice::from)
                }
            }),
        )
    }

    /// A transaction was imported from the bank (of one account when `accountId` is given).
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn transaction_added(
        &self,
        ctx: &Context<'_>,
        account_id: Option<ID>,
    ) -> Result<impl Stream<Item = BankTransaction>, GqlError> {
        let s = live_start(ctx).await?;
        let (store, org) = (s.store.clone(), s.org);
        let only = own_account(&store, org, account_id).await?;
        Ok(transactions(s, &[E::BankTransactionCreated], only))
    }

    /// A transaction changed at the bank, or the bank removed it: the transaction as it is
    /// now (of one account when `accountId` is given).
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn transaction_changed(
        &self,
        ctx: &Context<'_>,
        account_id: Option<ID>,
    ) -> Result<impl Stream<Item = BankTransaction>, GqlError> {
        let s = live_start(ctx).await?;
        let (store, org) = (s.store.clone(), s.org);
        let only = own_account(&store, org, account_id).await?;
        Ok(transactions(
            s,
            &[E::BankTransactionUpdated, E::BankTransactionRemoved],
            only,
        ))
    }

    /// A bank account's balance, re-authorization or sharing changed: the account as it is now
    /// (one account when `accountId` is given).
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn bank_account_changed(
        &self,
        ctx: &Context<'_>,
        account_id: Option<ID>,
    ) -> Result<impl Stream<Item = BankAccount>, GqlError> {
        let s = live_start(ctx).await?;
        let (store, org) = (s.store.clone(), s.org);
        let only = own_account(&store, org, account_id).await?;
        Ok(
            ids_of(&s, &ACCOUNT_EVENTS, "accountId", only).filter_map(move |(_, id)| {
                let store = store.clone();
                async move {
                    retrying(|| store.account(org, AccountId(id)))
                        .await
                        .map(BankAccount::from)
                }
            }),
        )
    }

    /// The link to Ponto changed: its status or problems, an account's balance or
    /// re-authorization, an account added or revoked. The connection as it is now.
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn connection_status_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = PontoConnection>, GqlError> {
        let s = live_start(ctx).await?;
        let (store, org) = (s.store.clone(), s.org);
        Ok(s.hub
            .follow(org, s.head, CONNECTION_EVENTS.to_vec())
            .then(move |_| {
                let store = store.clone();
                async move { PontoConnection::from(retrying(|| store.connection(org)).await) }
            }))
    }

    /// The organization's event log, live: first the events after `after` (an event's
    /// `cursor`; from now when omitted), then each event as it commits, in sequence order —
    /// of `types` only (catalogue names; all when omitted). Resubscribing with the last
    /// cursor received misses nothing and repeats nothing. `CURSOR_EXPIRED` when events after
    /// the cursor are no longer kept.
    #[graphql(guard = "RequireScope(Scope::Admin)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        types: Option<Vec<String>>,
    ) -> Result<impl Stream<Item = Event>, GqlError> {
        let org = ctx.principal()?.organization_id;
        let types = parse_types(types)?;
        let bounds = ctx.store()?.event_log_bounds(org).await?;
        let from = match after {
            Some(c) => start(Some(&c), bounds)?,
            None => bounds.last,
        };
        Ok(ctx.hub()?.follow(org, from, types).filter_map(|e| {
            std::future::ready(Event::try_from(e).inspect_err(|e| e.log_if_internal()).ok())
        }))
    }
}
