//! Owns webhook endpoints and their deliveries as rows: endpoints created, changed, enabled,
//! disabled, soft-deleted and their secrets rotated (sealed by the caller, never seen here in
//! the clear), and the deliveries created for an event (the outbound room adds signing and
//! sending on top).

use super::{Store, WriteTx, find_in, update_in};
use crate::domain::event::EventType;
use crate::domain::ids::{EndpointId, EventId, OrganizationId};
use crate::domain::status::{DeliveryStatus, EndpointStatus};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{webhook_delivery, webhook_endpoint};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// A new endpoint. `secret_enc` is the signing secret already sealed by the caller for `id`.
#[derive(Clone)]
pub struct NewEndpoint {
    pub id: EndpointId,
    pub url: String,
    pub description: Option<String>,
    /// Subscribed types; empty means every type.
    pub event_types: Vec<EventType>,
    pub rate_limit_per_second: Option<i32>,
    pub secret_enc: Vec<u8>,
}

/// An endpoint as subscribers manage it (its secrets stay out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub url: String,
    pub description: Option<String>,
    /// Subscribed types; empty means every type.
    pub event_types: Vec<EventType>,
    pub status: EndpointStatus,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub rate_limit_per_second: Option<i32>,
    /// Until when the secret before the last rotation still signs too.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an update changes; `None` keeps.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<EventType>>,
    pub rate_limit_per_second: Option<Option<i32>>,
    /// Enabled (`None` reason) or disabled with this reason.
    pub status: Option<(EndpointStatus, Option<String>)>,
}

/// The sealed secrets of an endpoint: the current one, and the one before the last rotation
/// while it still signs.
#[derive(Clone)]
pub struct SealedSecrets {
    pub current: Vec<u8>,
    pub previous: Option<(Vec<u8>, DateTime<Utc>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub endpoint_id: EndpointId,
    pub event_id: EventId,
    pub status: DeliveryStatus,
    pub attempt_count: i32,
}

fn types_json(types: &[EventType]) -> String {
    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    serde_json::to_string(&names).expect("strings serialize")
}

fn endpoint(m: webhook_endpoint::Model) -> AppResult<Endpoint> {
    let bad =
        |what: &str, v: &str| AppError::internal(format!("unknown {what} {v:?} in the database"));
    let names: Vec<String> =
        serde_json::from_str(&m.event_types).map_err(|_| bad("event type list", &m.event_types))?;
    let event_types = names
        .iter()
        .map(|n| EventType::parse(n).ok_or_else(|| bad("event type", n)))
        .collect::<AppResult<_>>()?;
    Ok(Endpoint {
        id: m.id.into(),
        status: EndpointStatus::parse(&m.status)
            .ok_or_else(|| bad("endpoint status", &m.status))?,
        url: m.url,
        description: m.description,
        event_types,
        disabled_reason: m.disabled_reason,
        disabled_at: m.disabled_at,
        rate_limit_per_second: m.rate_limit_per_second,
        previous_secret_expires_at: m.previous_secret_expires_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// The organization's endpoints that were not deleted.
fn live(org: OrganizationId) -> sea_orm::Select<webhook_endpoint::Entity> {
    find_in::<webhook_endpoint::Entity>(org).filter(webhook_endpoint::Column::DeletedAt.is_null())
}

/// A live endpoint of the organization, on either a pool or a transaction.
async fn endpoint_on(
    conn: &impl sea_orm::ConnectionTrait,
    org: OrganizationId,
    id: EndpointId,
) -> AppResult<Option<Endpoint>> {
    live(org)
        .filter(webhook_endpoint::Column::Id.eq(id.0))
        .one(conn)
        .await?
        .map(endpoint)
        .transpose()
}

impl WriteTx {
    pub async fn create_endpoint(
        &mut self,
        org: OrganizationId,
        new: NewEndpoint,
    ) -> AppResult<EndpointId> {
        let now = self.now();
        webhook_endpoint::Entity::insert(webhook_endpoint::ActiveModel {
            id: Set(new.id.0),
            organization_id: Set(org.0),
            url: Set(new.url),
            description: Set(new.description),
            event_types: Set(types_json(&new.event_types)),
            status: Set(EndpointStatus::Enabled.as_str().to_owned()),
            disabled_reason: Set(None),
            disabled_at: Set(None),
            secret_enc: Set(new.secret_enc),
            previous_secret_enc: Set(None),
            previous_secret_expires_at: Set(None),
            failing_since: Set(None),
            rate_limit_per_second: Set(new.rate_limit_per_second),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        })
        .exec_without_returning(self.conn())
        .await?;
        Ok(new.id)
    }

    /// How many endpoints the organization has (deleted ones not counted).
    pub async fn endpoint_count(&self, org: OrganizationId) -> AppResult<usize> {
        use sea_orm::PaginatorTrait;
        Ok(usize::try_from(live(org).count(self.conn()).await?).unwrap_or(usize::MAX))
    }

    pub async fn endpoint_in(
        &self,
        org: OrganizationId,
        id: EndpointId,
    ) -> AppResult<Option<Endpoint>> {
        endpoint_on(self.conn(), org, id).await
    }

    /// The endpoint's sealed secrets, for rotating them.
    pub async fn endpoint_secrets_in(
        &self,
        org: OrganizationId,
        id: EndpointId,
    ) -> AppResult<Option<SealedSecrets>> {
        Ok(live(org)
            .filter(webhook_endpoint::Column::Id.eq(id.0))
            .one(self.conn())
            .await?
            .map(|m| SealedSecrets {
                current: m.secret_enc,
                previous: m.previous_secret_enc.zip(m.previous_secret_expires_at),
            }))
    }

    /// Applies `changes` to a live endpoint; whether it existed.
    pub async fn update_endpoint(
        &mut self,
        org: OrganizationId,
        id: EndpointId,
        changes: EndpointChanges,
    ) -> AppResult<bool> {
        use webhook_endpoint::Column as C;
        let now = self.now();
        let mut q = update_in::<webhook_endpoint::Entity>(org)
            .filter(C::Id.eq(id.0))
            .filter(C::DeletedAt.is_null())
            .col_expr(C::UpdatedAt, Expr::value(now));
        if let Some(url) = changes.url {
            q = q.col_expr(C::Url, Expr::value(url));
        }
        if let Some(d) = changes.description {
            q = q.col_expr(C::Description, Expr::value(d));
        }
        if let Some(t) = changes.event_types {
            q = q.col_expr(C::EventTypes, Expr::value(types_json(&t)));
        }
        if let Some(r) = changes.rate_limit_per_second {
            q = q.col_expr(C::RateLimitPerSecond, Expr::value(r));
        }
        if let Some((status, reason)) = changes.status {
            let enabled = status == EndpointStatus::Enabled;
            q = q
                .col_expr(C::Status, Expr::value(status.as_str()))
                .col_expr(C::DisabledReason, Expr::value(reason))
                .col_expr(C::DisabledAt, Expr::value((!enabled).then_some(now)))
                // Re-enabled: its failures so far no longer count toward disabling it again.
                .col_expr(C::FailingSince, Expr::value(None::<DateTime<Utc>>));
        }
        Ok(q.exec(self.conn()).await?.rows_affected == 1)
    }

    /// Replaces the secrets: `current` signs from now on, `previous` (the one it replaces)
    /// alongside it until its expiry.
    pub async fn rotate_endpoint_secret(
        &mut self,
        org: OrganizationId,
        id: EndpointId,
        secrets: SealedSecrets,
    ) -> AppResult<bool> {
        use webhook_endpoint::Column as C;
        let now = self.now();
        let (previous, expires) = secrets.previous.unzip();
        let r = update_in::<webhook_endpoint::Entity>(org)
            .filter(C::Id.eq(id.0))
            .filter(C::DeletedAt.is_null())
            .col_expr(C::SecretEnc, Expr::value(secrets.current))
            .col_expr(C::PreviousSecretEnc, Expr::value(previous))
            .col_expr(C::PreviousSecretExpiresAt, Expr::value(expires))
            .col_expr(C::UpdatedAt, Expr::value(now))
            .exec(self.conn())
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// Deletes an endpoint: kept as a row (its deliveries and attempts stay readable until
    /// their retention), never delivered to again; its pending deliveries are cancelled.
    pub async fn delete_endpoint(
        &mut self,
        org: OrganizationId,
        id: EndpointId,
    ) -> AppResult<bool> {
        use webhook_endpoint::Column as C;
        let now = self.now();
        // Delivery rows before the endpoint row (ARCHITECTURE invariant 5): a finishing attempt
        // holds its delivery and then touches the endpoint. A deleted or unknown endpoint has
        // no pending delivery, so cancelling first changes nothing when it is not deleted here.
        update_in::<webhook_delivery::Entity>(org)
            .filter(webhook_delivery::Column::EndpointId.eq(id.0))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .col_expr(
                webhook_delivery::Column::Status,
                Expr::value(DeliveryStatus::Cancelled.as_str()),
            )
            .col_expr(
                webhook_delivery::Column::NextAttemptAt,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .exec(self.conn())
            .await?;
        let r = update_in::<webhook_endpoint::Entity>(org)
            .filter(C::Id.eq(id.0))
            .filter(C::DeletedAt.is_null())
            .col_expr(C::DeletedAt, Expr::value(Some(now)))
            .col_expr(C::Status, Expr::value(EndpointStatus::Disabled.as_str()))
            .col_expr(C::DisabledReason, Expr::value(Some("deleted")))
            .col_expr(C::DisabledAt, Expr::value(Some(now)))
            .col_expr(C::UpdatedAt, Expr::value(now))
            .exec(self.conn())
            .await?;
        Ok(r.rows_affected == 1)
    }
}

impl Store {
    /// The organization's endpoints, oldest first (deleted ones left out).
    pub async fn endpoints(&self, org: OrganizationId) -> AppResult<Vec<Endpoint>> {
        live(org)
            .order_by_asc(webhook_endpoint::Column::Id)
            .all(self.conn())
            .await?
            .into_iter()
            .map(endpoint)
            .collect()
    }

    pub async fn endpoint(
        &self,
        org: OrganizationId,
        id: EndpointId,
    ) -> AppResult<Option<Endpoint>> {
        endpoint_on(self.conn(), org, id).await
    }

    /// Deliveries created for one event of the organization.
    pub async fn deliveries_for_event(
        &self,
        org: OrganizationId,
        event: EventId,
    ) -> AppResult<Vec<Delivery>> {
        find_in::<webhook_delivery::Entity>(org)
            .filter(webhook_delivery::Column::EventId.eq(event.0))
            .order_by_asc(webhook_delivery::Column::EndpointId)
            .all(self.conn())
            .await?
            .into_iter()
            .map(|d| {
                Ok(Delivery {
                    endpoint_id: d.endpoint_id.into(),
                    event_id: d.event_id.into(),
                    status: DeliveryStatus::parse(&d.status).ok_or_else(|| {
                        AppError::internal(format!(
                            "unknown delivery status {:?} in the database",
                            d.status
                        ))
                    })?,
                    attempt_count: d.attempt_count,
                })
            })
            .collect()
    }
}
