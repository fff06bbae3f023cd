//! Owns relation fields of output types: a `Related<K, T>` holds only the key and loads the
//! related record through the request's tenant-scoped loader when — and only when — the field is
//! selected. It lets an output type stay a plain `SimpleObject` built `From` its store record,
//! with relation fields where the schema declares them.

use super::errors::GqlError;
use super::loaders::{Loaders, Scoped};
use async_graphql::dataloader::Loader;
use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};
use std::borrow::Cow;
use std::hash::Hash;
use std::marker::PhantomData;

/// The GraphQL value built from what the loader found for a key (nothing, or the record).
pub trait FromLoaded<V>: OutputType {
    fn from_loaded(found: Option<V>) -> Self;
}

/// A nullable related object.
impl<R, T: From<R> + OutputType> FromLoaded<R> for Option<T> {
    fn from_loaded(found: Option<R>) -> Self {
        found.map(T::from)
    }
}

/// A list of related objects (empty when none).
impl<R: Send + Sync, T: From<R> + OutputType> FromLoaded<Vec<R>> for Vec<T> {
    fn from_loaded(found: Option<Vec<R>>) -> Self {
        found.unwrap_or_default().into_iter().map(T::from).collect()
    }
}

/// The field's value: the key of what it relates to; `T` is the GraphQL type it resolves to.
pub struct Related<K, T> {
    key: K,
    to: PhantomData<fn() -> T>,
}

impl<K, T> Related<K, T> {
    pub fn new(key: K) -> Self {
        Self {
            key,
            to: PhantomData,
        }
    }
}

impl<K, T> OutputType for Related<K, T>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    Scoped: Loader<K, Error = GqlError>,
    T: FromLoaded<<Scoped as Loader<K>>::Value>,
{
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let loaders = ctx.data_opt::<Loaders>().ok_or_else(|| {
            ctx.set_error_path(
                async_graphql::Error::from(GqlError::unauthenticated())
                    .into_server_error(field.pos),
            )
        })?;
        let found = loaders
            .loader
            .load_one(self.key.clone())
            .await
            .map_err(|e| {
                ctx.set_error_path(async_graphql::Error::from(e).into_server_error(field.pos))
            })?;
        T::from_loaded(found).resolve(ctx, field).await
    }
}
