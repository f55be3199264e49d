//! The account's product catalogue: what client scopes grant, and the path prefixes by which the
//! gateway check maps a request to a product. Everyone who manages clients reads it; owners and
//! admins change it (the domain decides).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gatehouse_domain::account::Product;
use gatehouse_domain::products::{ProductPatch, parse_path_prefixes, parse_product_description, parse_product_name};
use maud::{Markup, html};

use super::clients::list_or_none;
use super::forms::entries;
use super::pages::{csrf_field, form_error, layout};
use super::{PortalError, PortalForm, PortalSession};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/products", get(list).post(create))
        .route("/products/{name}", post(update))
        .route("/products/{name}/delete", post(remove))
}

/// The page path of a product: its name as one path segment.
fn product_url(name: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    format!("/products/{}", encoded.replace('+', "%20"))
}

fn page(session: &PortalSession, products: &[Product], error: Option<&str>) -> Markup {
    let editor = session.actor.role.is_owner_or_admin();
    let body = html! {
        h1 { "Products" }
        p.muted {
            "The APIs your clients can be granted. The gateway check maps a request to a product by its path "
            "prefixes when the gateway does not name the product."
        }
        (form_error(error))
        table.list {
            thead { tr { th { "Name" } th { "Description" } th { "Path prefixes" } @if editor { th { span.visually-hidden { "Actions" } } } } }
            tbody {
                @for product in products {
                    tr {
                        td { code { (product.name) } }
                        @if editor {
                            td colspan="2" {
                                form.inline method="post" action=(product_url(&product.name)) {
                                    (csrf_field(session))
                                    input type="text" name="description" value=(product.description) aria-label="Description";
                                    input type="text" name="path_prefixes" value=(product.path_prefixes.join(", ")) aria-label="Path prefixes";
                                    button type="submit" { "Save" }
                                }
                            }
                            td {
                                form.inline method="post" action={ (product_url(&product.name)) "/delete" } {
                                    (csrf_field(session))
                                    button.danger type="submit" { "Delete" }
                                }
                            }
                        } @else {
                            td { (product.description) }
                            td { (list_or_none(product.path_prefixes.iter().map(String::as_str))) }
                        }
                    }
                }
            }
        }
        @if editor {
            h2 { "Add a product" }
            form.inline method="post" action="/products" {
                (csrf_field(session))
                label { "Name " input type="text" name="name" required; }
                label { "Description " input type="text" name="description"; }
                label { "Path prefixes " input type="text" name="path_prefixes" placeholder="/billing/, /invoices/"; }
                button type="submit" { "Add product" }
            }
            p.muted { "A product still granted to a client cannot be deleted: take it off the clients first." }
        }
    };
    layout("Products", Some(session), body)
}

async fn list(State(state): State<AppState>, session: PortalSession) -> Result<Response, PortalError> {
    let products = state.gatehouse.list_products(&session.actor, None, state.clock.now()).await?;
    Ok(page(&session, &products, None).into_response())
}

/// Shows the list again with the error above it, for the refusals a person can fix.
async fn refused(state: &AppState, session: &PortalSession, error: PortalError) -> Result<Response, PortalError> {
    if !matches!(error.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) {
        return Err(error);
    }
    let products = state.gatehouse.list_products(&session.actor, None, state.clock.now()).await?;
    Ok((error.status(), page(session, &products, Some(error.message()))).into_response())
}

async fn create(
    State(state): State<AppState>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let result = async {
        let product = Product {
            name: parse_product_name(fields.text("name"))?,
            description: parse_product_description(fields.text("description"))?,
            path_prefixes: parse_path_prefixes(&entries(fields.text("path_prefixes")))?,
        };
        Ok::<_, PortalError>(state.gatehouse.create_product(&session.actor, None, product, state.clock.now()).await?)
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to("/products").into_response()),
        Err(error) => refused(&state, &session, error).await,
    }
}

async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let result = async {
        let patch = ProductPatch {
            description: Some(parse_product_description(fields.text("description"))?),
            path_prefixes: Some(parse_path_prefixes(&entries(fields.text("path_prefixes")))?),
        };
        Ok::<_, PortalError>(
            state.gatehouse.update_product(&session.actor, None, &name, patch, state.clock.now()).await?,
        )
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to("/products").into_response()),
        Err(error) => refused(&state, &session, error).await,
    }
}

async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
    PortalForm { session, .. }: PortalForm,
) -> Result<Response, PortalError> {
    match state.gatehouse.delete_product(&session.actor, None, &name, state.clock.now()).await {
        Ok(()) => Ok(Redirect::to("/products").into_response()),
        Err(error) => refused(&state, &session, error.into()).await,
    }
}
