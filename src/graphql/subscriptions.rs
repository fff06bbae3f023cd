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
use crate::error::AppResult;
use crate::live::{Hub, retrying};
use crate::store::Store;
use crate::store::events::StoredEvent;
use crate::store::transactions::Transaction as StoreTx;
use async_graphql::{Context, ID, Subscription};
use futures::{Stream, StreamExt};
use std::future::Future;
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

/// The objects events of `types` name under `id_key` — of `only` under `filter_key`, when
/// given — each read fresh by `load` when its event arrives (one gone since is skipped).
fn named<R, F, Fut>(
    s: &Start,
    types: &[EventType],
    (filter_key, only): (&'static str, Option<Uuid>),
    id_key: &'static str,
    load: F,
) -> impl Stream<Item = R> + Send + 'static + use<R, F, Fut>
where
    F: Fn(Store, OrganizationId, Uuid) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = AppResult<Option<R>>> + Send + 'static,
    R: Send + 'static,
{
    let (store, org) = (s.store.clone(), s.org);
    s.hub
        .follow(org, s.head, types.to_vec())
        .filter_map(move |e| {
            let wanted = data_id(&e, filter_key).is_some_and(|id| only.is_none_or(|o| o == id));
            let id = wanted.then(|| data_id(&e, id_key)).flatten();
            let (store, load) = (store.clone(), load.clone());
            async move {
                let id = id?;
                // An object that cannot be read is left out (logged), the view goes on.
                retrying(|| load(store.clone(), org, id))
                    .await
                    .inspect_err(AppError::log_if_internal)
                    .ok()
                    .flatten()
            }
        })
}

async fn transaction(store: Store, org: OrganizationId, id: Uuid) -> AppResult<Option<StoreTx>> {
    store.transaction(org, TransactionId(id)).await
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
        let load = |store: Store, org, id| async move { store.invoice(org, InvoiceId(id)).await };
        let key = "invoiceId";
        Ok(named(&s, &INVOICE_EVENTS, (key, only), key, load).map(Invoice::from))
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
        let types = [E::BankTransactionCreated];
        Ok(named(
            &s,
            &types,
            ("accountId", only),
            "transactionId",
            transaction,
        )
        .map(BankTransaction::from))
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
        let types = [E::BankTransactionUpdated, E::BankTransactionRemoved];
        Ok(named(
            &s,
            &types,
            ("accountId", only),
            "transactionId",
            transaction,
        )
        .map(BankTransaction::from))
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
        let load = |store: Store, org, id| async move { store.account(org, AccountId(id)).await };
        let key = "accountId";
        Ok(named(&s, &ACCOUNT_EVENTS, (key, only), key, load).map(BankAccount::from))
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
            .filter_map(move |_| {
                let store = store.clone();
                async move {
                    retrying(|| store.connection(org))
                        .await
                        .inspect_err(AppError::log_if_internal)
                        .map(PontoConnection::from)
                        .ok()
                }
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
