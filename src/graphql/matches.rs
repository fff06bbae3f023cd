//! Owns the `PaymentMatch` type: an allocation of a bank transaction to an invoice.

use super::ContextExt;
use super::errors::GqlResult;
use super::invoices::InvoiceGql;

use super::ids;
use super::scalars::Money;
use super::transactions::BankTransaction;
use crate::store::matches::PaymentMatch;
use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};

pub const MATCH_TYPE: &str = "PaymentMatch";

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::status::MatchMethod")]
pub enum MatchMethod {
    /// Applied by the reconciliation engine on strong evidence.
    Automatic,
    /// Made by a person.
    Manual,
}

pub struct PaymentMatchGql(pub PaymentMatch);

#[Object(name = "PaymentMatch")]
impl PaymentMatchGql {
    pub async fn id(&self) -> ID {
        ID(ids::encode(MATCH_TYPE, self.0.id.0))
    }
    async fn invoice(&self, ctx: &Context<'_>) -> GqlResult<Option<InvoiceGql>> {
        let found = ctx.loaders()?.loader.load_one(self.0.invoice_id).await?;
        Ok(found.map(InvoiceGql))
    }
    async fn transaction(&self, ctx: &Context<'_>) -> GqlResult<Option<BankTransaction>> {
        let found = ctx
            .loaders()?
            .loader
            .load_one(self.0.transaction_id)
            .await?;
        Ok(found.map(BankTransaction))
    }
    /// The amount allocated, in the invoice's currency.
    async fn amount(&self) -> Money {
        self.0.amount.into()
    }
    async fn method(&self) -> MatchMethod {
        self.0.method.into()
    }
    /// What the match rests on, e.g. `STRUCTURED_REFERENCE`, `INVOICE_NUMBER`, `AMOUNT_AND_IBAN`.
    async fn evidence(&self) -> &str {
        &self.0.evidence
    }
    /// 0–100.
    async fn confidence(&self) -> i32 {
        self.0.confidence
    }
    /// Who made it: `system` or the token's subject.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn reversed_at(&self) -> Option<DateTime<Utc>> {
        self.0.reversed_at
    }
    async fn reversed_by(&self) -> Option<&str> {
        self.0.reversed_by.as_deref()
    }
}
