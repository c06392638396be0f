//! GitLab's offset pagination: `page`, `per_page` (default 20, at most 100), and the `Link`, `X-Page`,
//! `X-Per-Page`, `X-Total`, `X-Total-Pages`, `X-Next-Page` and `X-Prev-Page` headers.
//!
//! **Invariant:** `per_page` is capped at 100 and `Link` headers never carry `private_token`.

use authority::{ListOrder, OrderBy, Page};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::{ApiResult, bad_request};
use crate::params::Params;

pub const DEFAULT_PER_PAGE: i64 = 20;
pub const MAX_PER_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1_000_000;

pub fn page(params: &Params) -> ApiResult<Page> {
    let page = params.int("page")?.unwrap_or(1);
    let per_page = params.int("per_page")?.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(bad_request("page is invalid"));
    }
    if per_page < 1 {
        return Err(bad_request("per_page is invalid"));
    }
    Ok(Page { page, per_page: per_page.min(MAX_PER_PAGE) })
}

/// GitLab's `order_by` (one of `allowed`, `default` when absent) and `sort` (`asc` or `desc`, GitLab's default
/// `desc`), each matched exactly.
pub fn order(params: &Params, allowed: &[OrderBy], default: OrderBy) -> ApiResult<ListOrder> {
    let by = match params.str("order_by")? {
        None => default,
        Some(name) => allowed.iter().copied().find(|by| by.name() == name).ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|by| by.name()).collect();
            bad_request(format!("order_by does not have a valid value (one of {})", names.join(", ")))
        })?,
    };
    let descending = match params.str("sort")?.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(bad_request("sort does not have a valid value (asc or desc)")),
    };
    Ok(ListOrder { by, descending })
}

/// A JSON list with GitLab's pagination headers. `base` is the external URL (scheme and host).
pub fn paginated(items: Vec<Value>, total: i64, page: Page, base: &str, uri: &Uri) -> Response {
    let total_pages = ((total + page.per_page - 1) / page.per_page).max(1);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("x-page", page.page.to_string());
    put("x-per-page", page.per_page.to_string());
    put("x-total", total.to_string());
    put("x-total-pages", total_pages.to_string());
    put("x-next-page", if page.page < total_pages { (page.page + 1).to_string() } else { String::new() });
    // A page past the last one has no previous page, as in GitLab.
    let has_prev = page.page > 1 && page.page <= total_pages;
    put("x-prev-page", if has_prev { (page.page - 1).to_string() } else { String::new() });
    let link = |n: i64, rel: &str| format!("<{}>; rel=\"{rel}\"", page_url(base, uri, n, page.per_page));
    let mut links = Vec::new();
    if has_prev {
        links.push(link(page.page - 1, "prev"));
    }
    if page.page < total_pages {
        links.push(link(page.page + 1, "next"));
    }
    links.push(link(1, "first"));
    links.push(link(total_pages, "last"));
    put("link", links.join(", "));
    (headers, axum::Json(Value::Array(items))).into_response()
}

fn page_url(base: &str, uri: &Uri, page: i64, per_page: i64) -> String {
    let mut pairs: Vec<(String, String)> = uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "page" && k != "per_page" && k != "private_token")
        .collect();
    pairs.push(("page".to_owned(), page.to_string()));
    pairs.push(("per_page".to_owned(), per_page.to_string()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{}{}?{}", base.trim_end_matches('/'), uri.path(), query)
}
