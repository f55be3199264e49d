//! `/v1/products[/{name}]`: the account's product catalogue.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_domain::account::Product;
use gatehouse_domain::ids::AccountId;
use gatehouse_domain::products::{ProductPatch, parse_path_prefixes, parse_product_description, parse_product_name};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::account_of;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/products", get(list_products).post(create_product))
        .route("/v1/products/{name}", get(get_product).patch(update_product).delete(delete_product))
}

#[derive(Serialize, ToSchema)]
struct ProductList {
    products: Vec<Product>,
}

#[derive(Serialize, ToSchema)]
struct ProductEnvelope {
    product: Product,
}

#[utoipa::path(get, path = "/v1/products", tag = "products", security(("bearer" = [])),
    params(("account_id" = Option<String>, Query)),
    responses((status = 200, body = ProductList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_products(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Json<ProductList>, ApiError> {
    let account_id = account_of(query);
    let products = state.gatehouse.list_products(&actor, account_id, state.clock.now()).await?;
    Ok(Json(ProductList { products }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateProductBody {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    path_prefixes: Vec<String>,
    #[serde(default)]
    account_id: Option<String>,
}

#[utoipa::path(post, path = "/v1/products", tag = "products", security(("bearer" = [])), request_body = CreateProductBody,
    responses((status = 201, body = ProductEnvelope), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_product(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<CreateProductBody>,
) -> Result<Response, ApiError> {
    let product = Product {
        name: parse_product_name(&body.name)?,
        description: parse_product_description(&body.description)?,
        path_prefixes: parse_path_prefixes(&body.path_prefixes)?,
    };
    let account_id = body.account_id.map(AccountId::from_string);
    let product = state.gatehouse.create_product(&actor, account_id, product, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(ProductEnvelope { product })).into_response())
}

#[utoipa::path(get, path = "/v1/products/{name}", tag = "products", security(("bearer" = [])),
    params(("name" = String, Path), ("account_id" = Option<String>, Query, description = "a child account's catalogue")),
    responses((status = 200, body = ProductEnvelope), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_product(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<ProductEnvelope>, ApiError> {
    let product = state.gatehouse.get_product(&actor, account_of(query), &name, state.clock.now()).await?;
    Ok(Json(ProductEnvelope { product }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateProductBody {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    path_prefixes: Option<Vec<String>>,
}

#[utoipa::path(patch, path = "/v1/products/{name}", tag = "products", security(("bearer" = [])),
    params(("name" = String, Path), ("account_id" = Option<String>, Query, description = "a child account's catalogue")), request_body = UpdateProductBody,
    responses((status = 200, body = ProductEnvelope), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_product(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    ApiJson(body): ApiJson<UpdateProductBody>,
) -> Result<Json<ProductEnvelope>, ApiError> {
    let patch = ProductPatch {
        description: body.description.as_deref().map(parse_product_description).transpose()?,
        path_prefixes: body.path_prefixes.as_deref().map(parse_path_prefixes).transpose()?,
    };
    let product = state.gatehouse.update_product(&actor, account_of(query), &name, patch, state.clock.now()).await?;
    Ok(Json(ProductEnvelope { product }))
}

#[utoipa::path(delete, path = "/v1/products/{name}", tag = "products", security(("bearer" = [])),
    params(("name" = String, Path), ("account_id" = Option<String>, Query, description = "a child account's catalogue")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_product(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    state.gatehouse.delete_product(&actor, account_of(query), &name, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The product routes' part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_products, create_product, get_product, update_product, delete_product))]
pub(super) struct ProductsApi;
