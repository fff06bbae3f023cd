//! Owns the sealed values of every table as rows, for key rotation: listing them, and replacing
//! one only if it is still the value read (compare-and-swap).

use crate::error::{AppError, AppResult};
use crate::store::{Store, WriteTx, stmt};
use entity::ponto_connection;
use sea_orm::{ConnectionTrait, EntityTrait};

/// One sealed value and its binding.
#[derive(Clone)]
pub struct SealedValue {
    pub table: &'static str,
    pub column: &'static str,
    pub row: uuid::Uuid,
    pub organization: uuid::Uuid,
    pub value: Vec<u8>,
}

impl Store {
    /// Every sealed value of the database with what binds it, for key rotation.
    pub async fn sealed_values(&self) -> AppResult<Vec<SealedValue>> {
        let mut out = Vec::new();
        for c in ponto_connection::Entity::find().all(self.conn()).await? {
            for (column, value) in [
                ("access_token_enc", c.access_token_enc),
                ("refresh_token_enc", c.refresh_token_enc),
            ] {
                if let Some(v) = value {
                    out.push(SealedValue {
                        table: "ponto_connection",
                        column,
                        row: c.id,
                        organization: c.organization_id,
                        value: v,
                    });
                }
            }
        }
        for f in entity::oauth_flow::Entity::find().all(self.conn()).await? {
            if let Some(v) = f.pkce_verifier_enc {
                out.push(SealedValue {
                    table: "oauth_flow",
                    column: "pkce_verifier_enc",
                    row: f.id,
                    organization: f.organization_id,
                    value: v,
                });
            }
        }
        for e in entity::webhook_endpoint::Entity::find()
            .all(self.conn())
            .await?
        {
            out.push(SealedValue {
                table: "webhook_endpoint",
                column: "secret_enc",
                row: e.id,
                organization: e.organization_id,
                value: e.secret_enc,
            });
            if let Some(v) = e.previous_secret_enc {
                out.push(SealedValue {
                    table: "webhook_endpoint",
                    column: "previous_secret_enc",
                    row: e.id,
                    organization: e.organization_id,
                    value: v,
                });
            }
        }
        Ok(out)
    }
}

impl WriteTx {
    /// Replaces one sealed value (key rotation). Only the tables and columns above.
    /// Replaces a sealed value only if it is still the one read (`v.value`): a value rewritten
    /// meanwhile (a token refresh) is newer and was sealed under the current key, so it stays.
    /// Returns whether it was replaced.
    pub async fn replace_sealed(&mut self, v: &SealedValue, value: Vec<u8>) -> AppResult<bool> {
        let allowed = matches!(
            (v.table, v.column),
            ("ponto_connection", "access_token_enc" | "refresh_token_enc")
                | ("oauth_flow", "pkce_verifier_enc")
                | ("webhook_endpoint", "secret_enc" | "previous_secret_enc")
        );
        if !allowed {
            return Err(AppError::internal("not a sealed column"));
        }
        let sql = format!(
            "UPDATE {t} SET {c} = $1 WHERE id = $2 AND organization_id = $3 AND {c} = $4",
            t = v.table,
            c = v.column
        );
        let backend = self.conn().get_database_backend();
        let n = self
            .conn()
            .execute_raw(stmt(
                backend,
                &sql,
                [
                    value.into(),
                    v.row.into(),
                    v.organization.into(),
                    v.value.clone().into(),
                ],
            ))
            .await?
            .rows_affected();
        Ok(n == 1)
    }
}
