//! The HTTP side of the mock: the accept loop, the checks every request
//! goes through, and the answer of each route.

use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::failures::{ClosedOnPurpose, fail};
use super::response::{MockBody, error, json_response};
use super::state::{RecordedRequest, Shared, State};
use super::{
    AUTHENTICATION_INVALID, DEFAULT_LIMIT, EVENT_NOT_FOUND, MAX_LIMIT, TRANSACTION_NOT_FOUND,
};

pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: wait and go on.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&shared), request));
            // A connection that fails (closed by the client, closed on
            // purpose) only ends itself.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<MockBody>, ClosedOnPurpose> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let mut headers = request.headers().clone();
    if let Some(value) = headers.get_mut(AUTHORIZATION) {
        value.set_sensitive(true);
    }
    let elapsed = shared.started.elapsed();
    let second = usize::try_from(elapsed.as_secs()).unwrap_or(usize::MAX);
    let into = Duration::from_nanos(u64::from(elapsed.subsec_nanos()));
    let (failure, delay, rate) = {
        let mut state = shared.lock();
        // Events served from the template are not counted by path: there
        // may be millions of them.
        let from_template = shared.any_event.is_some()
            && path
                .strip_prefix("/events/")
                .is_some_and(|id| !id.contains('/') && state.event(id).is_none());
        state.record(
            RecordedRequest {
                method: request.method().clone(),
                path: path.clone(),
                query: query.clone(),
                headers,
            },
            !from_template,
        );
        let rate = state.count_second(second, into);
        (state.take_failure(&path), state.delay, rate)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(failure) = failure {
        return fail(failure).await;
    }
    let mut response = match rate {
        Err(wait) => rate_limited(wait),
        Ok(_) => answer(&shared, &request, &path, query.as_deref()),
    };
    if let Ok(Some((limit, remaining))) = rate {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit", limit.into());
        headers.insert("x-ratelimit-remaining", remaining.into());
    }
    Ok(response)
}

/// The answer over the rate limit: 429, `Retry-After` to the next second.
fn rate_limited(wait: Duration) -> Response<MockBody> {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "request.rate-limit.exceeded",
        "The mock API's rate limit is exceeded.",
    );
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, seconds.max(1).into());
    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    response
}

/// The normal answer: credentials, API version, then the route.
fn answer(
    shared: &Shared,
    request: &Request<Incoming>,
    path: &str,
    query: Option<&str>,
) -> Response<MockBody> {
    let authorized = request
        .headers()
        .get(AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == shared.expected_authorization.as_bytes());
    if !authorized {
        return json_response(StatusCode::UNAUTHORIZED, AUTHENTICATION_INVALID);
    }
    if let Some(expected) = &shared.api_version {
        let sent = request.headers().get("api-version");
        if sent.is_none_or(|sent| sent.as_bytes() != expected.as_bytes()) {
            return error(
                StatusCode::BAD_REQUEST,
                "mock.api-version.invalid",
                "The API-Version header is missing or is not the one the mock API expects.",
            );
        }
    }
    if request.method() != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "mock.method.not-allowed",
            "The mock API only serves GET requests.",
        );
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let state = shared.lock();
    match segments.as_slice() {
        ["events"] => list_events(&state, query),
        ["events", id] => match (state.event(id), &shared.any_event) {
            (Some(event), _) => success(json!({"success": true, "event": event})),
            (None, Some((before, after))) => {
                let mut body = Vec::with_capacity(before.len() + id.len() + after.len());
                body.extend_from_slice(before);
                body.extend_from_slice(id.as_bytes());
                body.extend_from_slice(after);
                json_response(StatusCode::OK, body)
            }
            (None, None) => json_response(StatusCode::NOT_FOUND, EVENT_NOT_FOUND),
        },
        ["events", id, "webhooks"] => match state.event(id) {
            Some(_) => {
                let webhooks = state.webhooks.get(*id).cloned().unwrap_or_default();
                success(json!({"success": true, "webhooks": webhooks, "has_more": false}))
            }
            None => json_response(StatusCode::NOT_FOUND, EVENT_NOT_FOUND),
        },
        ["transactions", id] => match state.transactions.get(*id) {
            Some(transaction) => success(json!({"success": true, "transaction": transaction})),
            None => json_response(StatusCode::NOT_FOUND, TRANSACTION_NOT_FOUND),
        },
        _ => error(
            StatusCode::NOT_FOUND,
            "mock.route.not-found",
            "The mock API has no such route.",
        ),
    }
}

/// `GET /events`: one page of the events, by cursor.
fn list_events(state: &State, query: Option<&str>) -> Response<MockBody> {
    let mut limit = DEFAULT_LIMIT;
    let mut descending = true;
    let mut start_after = None;
    let mut end_before = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
                _ => return invalid_parameter("limit must be a number from 1 to 100"),
            },
            "order" => match &*value {
                "asc" => descending = false,
                "desc" => descending = true,
                _ => return invalid_parameter("order must be asc or desc"),
            },
            "start_after" => start_after = Some(value.into_owned()),
            "end_before" => end_before = Some(value.into_owned()),
            // Accepted as the SDKs send them; the mock applies neither.
            "filter" | "expand" | "expand[]" => {}
            _ => {}
        }
    }
    if start_after.is_some() && end_before.is_some() {
        return invalid_parameter("only one of start_after and end_before may be given");
    }
    let mut ordered: Vec<&(String, Value)> = state.events.iter().collect();
    if descending {
        ordered.reverse();
    }
    let position = |id: &str| ordered.iter().position(|(known, _)| known == id);
    let from = match start_after.as_deref().map(position) {
        None => 0,
        Some(Some(i)) => i + 1,
        Some(None) => return json_response(StatusCode::NOT_FOUND, EVENT_NOT_FOUND),
    };
    let to = match end_before.as_deref().map(position) {
        None => ordered.len(),
        Some(Some(i)) => i,
        Some(None) => return json_response(StatusCode::NOT_FOUND, EVENT_NOT_FOUND),
    };
    let window = ordered.get(from..to).unwrap_or_default();
    let has_more = window.len() > limit;
    // Paging backwards (`end_before` alone) takes the events nearest the
    // cursor, as cursor APIs do.
    let page = if end_before.is_some() {
        &window[window.len().saturating_sub(limit)..]
    } else {
        &window[..window.len().min(limit)]
    };
    let events: Vec<&Value> = page.iter().map(|(_, value)| value).collect();
    success(json!({"success": true, "events": events, "has_more": has_more}))
}

fn invalid_parameter(message: &'static str) -> Response<MockBody> {
    error(StatusCode::BAD_REQUEST, "mock.parameter.invalid", message)
}

fn success(value: Value) -> Response<MockBody> {
    json_response(StatusCode::OK, value.to_string())
}
