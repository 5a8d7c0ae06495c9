//! The agent's HTTP endpoints on axum (hyper underneath): `/metrics`, `/healthz`,
//! `/readyz`. One small tokio runtime on its own thread serves them; at most
//! [`MAX_CONCURRENT`] requests are handled at once and the rest wait.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;

/// Requests handled at once.
pub const MAX_CONCURRENT: usize = 16;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn metrics(State(m): State<Arc<Metrics>>) -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS)], m.render()).into_response()
}

async fn healthz(State(m): State<Arc<Metrics>>) -> (StatusCode, &'static str) {
    if m.healthy() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "main loop stalled\n")
    }
}

async fn readyz(State(m): State<Arc<Metrics>>) -> (StatusCode, String) {
    if m.is_ready() {
        (StatusCode::OK, "ready\n".into())
    } else {
        let reason = m.reason.lock().expect("reason lock").clone();
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n"))
    }
}

/// The routes, for serving and for tests.
pub fn router(m: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_CONCURRENT))
        .with_state(m)
}

/// Serves the endpoints on `listener` from a background thread.
pub fn serve(listener: std::net::TcpListener, m: Arc<Metrics>) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => return tracing::error!("metrics server: {e}"),
                };
                if let Err(e) = axum::serve(listener, router(m)).await {
                    tracing::error!("metrics server: {e}");
                }
            })
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_metrics_health_and_readiness() {
        let m = Arc::new(Metrics::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        serve(listener, m.clone()).unwrap();
        let ready = get(addr, "/readyz");
        assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
        assert!(ready.ends_with("not ready: no state applied yet\n"), "{ready}");
        m.set_ready(true, "");
        assert!(get(addr, "/readyz").starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/healthz").ends_with("ok\n"));
        let metrics = get(addr, "/metrics");
        assert!(
            metrics.contains("content-type: application/openmetrics-text"),
            "{metrics}"
        );
        assert!(metrics.contains("palisade_ready 1"), "{metrics}");
        assert!(get(addr, "/nope").starts_with("HTTP/1.1 404"));
    }
}
