//! Owns the Relay `Node` interface and `node(id)`: any object by its opaque global id, within
//! the caller's organization only (another tenant's id resolves to null).

use super::bank::{ACCOUNT_TYPE, BankAccount};
use super::errors::GqlResult;
use super::invoices::{INVOICE_TYPE, Invoice};
use super::matches::{MATCH_TYPE, PaymentMatch};
use super::transactions::{BankTransaction, TRANSACTION_TYPE};
use super::{ContextExt, RequireScope, ids};
use crate::domain::scope::Scope;
use async_graphql::{Context, ID, Interface, Object};

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "&ID"))]
pub enum Node {
    BankAccount(BankAccount),
    BankTransaction(BankTransaction),
    Invoice(Invoice),
    PaymentMatch(PaymentMatch),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id; null when it does not exist for this organization.
    #[graphql(guard = "RequireScope(Scope::Read)")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Node>> {
        let Some((ty, uuid)) = ids::decode(&id) else {
            return Ok(None);
        };
        let org = ctx.principal()?.organization_id;
        let s = ctx.store()?;
        Ok(match ty.as_str() {
            ACCOUNT_TYPE => s
                .account(org, uuid.into())
                .await?
                .map(|a| Node::BankAccount(BankAccount::from(a))),
            TRANSACTION_TYPE => s
                .transaction(org, uuid.into())
                .await?
                .map(|t| Node::BankTransaction(BankTransaction::from(t))),
            INVOICE_TYPE => s
                .invoice(org, uuid.into())
                .await?
                .map(|i| Node::Invoice(Invoice::from(i))),
            MATCH_TYPE => s
                .payment_match(org, uuid.into())
                .await?
                .map(|m| Node::PaymentMatch(PaymentMatch::from(m))),
            _ => None,
        })
    }
}
