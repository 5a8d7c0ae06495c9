//! A mocked Kubernetes API server on loopback, for tests and benchmarks of everything that
//! reads a live cluster (no API server can run where Palisade is tested): it serves lists
//! of the kinds Palisade reads, in pages (`limit`, `continue`), answers a chosen status
//! for a resource (403, 500, …), 404 for resources it does not serve, and holds watch
//! requests open, sending an `ADDED` event for each object [`MockApi::add`] adds. Objects
//! can be generated per page, so serving 10,000 pods does not hold them all in memory. It
//! writes the kubeconfig a client needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::Router;
use serde_json::{json, Value};

/// Makes the object with this index of a generated resource.
pub type Generator = Arc<dyn Fn(usize) -> Value + Send + Sync>;

/// One served resource: fixed objects, or `count` generated ones.
#[derive(Clone)]
enum Items {
    Fixed(Vec<Value>),
    Generated(usize, Generator),
}

impl Items {
    fn len(&self) -> usize {
        match self {
            Items::Fixed(v) => v.len(),
            Items::Generated(n, _) => *n,
        }
    }

    fn get(&self, i: usize) -> Value {
        match self {
            Items::Fixed(v) => v[i].clone(),
            Items::Generated(_, g) => g(i),
        }
    }
}

/// What the mock serves, by resource plural (`pods`, `networkpolicies`, …).
#[derive(Clone, Default)]
pub struct ApiObjects {
    items: BTreeMap<String, Items>,
    failures: BTreeMap<String, u16>,
}

impl ApiObjects {
    /// Serves `objects` (each with apiVersion and kind) as `resource`.
    pub fn with(mut self, resource: &str, objects: Vec<Value>) -> Self {
        self.items.insert(resource.to_string(), Items::Fixed(objects));
        self
    }

    /// Serves `count` objects made by `make` as `resource`.
    pub fn generated(
        mut self,
        resource: &str,
        count: usize,
        make: impl Fn(usize) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.items
            .insert(resource.to_string(), Items::Generated(count, Arc::new(make)));
        self
    }

    /// Answers `code` (a Kubernetes Status) for every request for `resource`.
    pub fn failing(mut self, resource: &str, code: u16) -> Self {
        self.failures.insert(resource.to_string(), code);
        self
    }
}

/// The API path of a resource Palisade reads.
fn resource_of(path: &str) -> Option<&str> {
    let known = [
        "/api/v1/",
        "/apis/networking.k8s.io/v1/",
        "/apis/policy.networking.k8s.io/v1alpha2/",
        "/apis/policy.networking.k8s.io/v1alpha1/",
    ];
    known
        .iter()
        .find_map(|p| path.strip_prefix(p))
        .filter(|r| !r.contains('/'))
}

fn status(code: u16, reason: &str, message: &str) -> Response<Body> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "code": code});
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

/// `limit` and `continue` of a query string.
fn page_params(query: &str) -> (Option<usize>, usize, bool) {
    let mut limit = None;
    let mut offset = 0;
    let mut watch = false;
    for kv in query.split('&') {
        match kv.split_once('=') {
            Some(("limit", v)) => limit = v.parse().ok(),
            Some(("continue", v)) => offset = v.parse().unwrap_or(0),
            Some(("watch", v)) => watch = v == "true" || v == "1",
            _ => {}
        }
    }
    (limit, offset, watch)
}

/// Open watch streams, by resource: each gets the events of objects added later.
type Watchers = Arc<Mutex<BTreeMap<String, Vec<tokio::sync::mpsc::UnboundedSender<axum::body::Bytes>>>>>;

/// A watch of `resource`: held open, sending the events of objects added from now on.
fn watch_stream(watchers: &Watchers, resource: &str) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    watchers
        .lock()
        .expect("lock")
        .entry(resource.to_string())
        .or_default()
        .push(tx);
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(events))
        .expect("response")
}

fn answer(objects: &ApiObjects, watchers: &Watchers, req: &Request<Body>) -> Response<Body> {
    let Some(resource) = resource_of(req.uri().path()) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    if let Some(code) = objects.failures.get(resource) {
        let (reason, message) = match code {
            403 => (
                "Forbidden",
                format!("{resource} is forbidden: User \"system:serviceaccount:test:reader\" cannot list resource \"{resource}\" at the cluster scope"),
            ),
            401 => ("Unauthorized", "Unauthorized".to_string()),
            _ => ("InternalError", "an error on the server has prevented the request from succeeding".to_string()),
        };
        return status(*code, reason, &message);
    }
    let Some(items) = objects.items.get(resource) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let (limit, offset, watch) = page_params(req.uri().query().unwrap_or(""));
    if watch {
        return watch_stream(watchers, resource);
    }
    let end = limit.map_or(items.len(), |l| (offset + l).min(items.len()));
    let page: Vec<Value> = (offset.min(end)..end).map(|i| items.get(i)).collect();
    let mut metadata = json!({"resourceVersion": "1000"});
    if end < items.len() {
        metadata["continue"] = json!(end.to_string());
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": metadata, "items": page});
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&list).expect("json")))
        .expect("response")
}

/// A running mock API server; it stops when dropped.
pub struct MockApi {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
    objects: Arc<Mutex<ApiObjects>>,
    watchers: Watchers,
    /// Objects added so far (their resourceVersions follow the lists').
    added: std::sync::atomic::AtomicU64,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl MockApi {
    /// Starts serving `objects` on a free loopback port, on a thread of its own.
    pub fn start(objects: ApiObjects) -> MockApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let objects = Arc::new(Mutex::new(objects));
        let watchers: Watchers = Arc::default();
        let (served, watching) = (objects.clone(), watchers.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new().fallback(move |req: Request<Body>| {
                    let objects = served.clone();
                    let watchers = watching.clone();
                    let seen = seen.clone();
                    async move {
                        let line = format!("{} {}", req.method(), req.uri());
                        let objects = objects.lock().expect("lock");
                        let response = answer(&objects, &watchers, &req);
                        // Recorded once answered: a watch a test sees in the requests is
                        // open, so an object added then reaches it.
                        seen.lock().expect("lock").push(line);
                        response
                    }
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        MockApi {
            url,
            requests,
            objects,
            watchers,
            added: Default::default(),
            _stop: stop,
        }
    }

    /// Adds `object` to `resource` (one of fixed objects): later lists have it, and every
    /// open watch of the resource gets an `ADDED` event.
    pub fn add(&self, resource: &str, mut object: Value) {
        // A watch event's object carries a resourceVersion (watchers fail without one),
        // newer than the lists' 1000.
        let version = self.added.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1001;
        if object["metadata"]["resourceVersion"].is_null() {
            object["metadata"]["resourceVersion"] = json!(version.to_string());
        }
        {
            let mut objects = self.objects.lock().expect("lock");
            match objects.items.get_mut(resource) {
                Some(Items::Fixed(v)) => v.push(object.clone()),
                Some(Items::Generated(..)) => panic!("{resource} is generated: nothing can be added"),
                None => {
                    objects
                        .items
                        .insert(resource.to_string(), Items::Fixed(vec![object.clone()]));
                }
            }
        }
        let event = json!({"type": "ADDED", "object": object}).to_string() + "\n";
        if let Some(open) = self.watchers.lock().expect("lock").get_mut(resource) {
            open.retain(|tx| tx.send(axum::body::Bytes::from(event.clone())).is_ok());
        }
    }

    /// Every request answered so far (a watch: once open), as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }

    /// Writes a kubeconfig whose current context `mock` points at this server (and a
    /// second context `elsewhere` at an address nothing listens on), and returns its path.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: mock\n\
             clusters:\n- name: mock\n  cluster:\n    server: {url}\n- name: elsewhere\n  cluster:\n    server: http://127.0.0.1:9\n\
             users:\n- name: reader\n  user:\n    token: test-token\n\
             contexts:\n- name: mock\n  context:\n    cluster: mock\n    user: reader\n- name: elsewhere\n  context:\n    cluster: elsewhere\n    user: reader\n",
            url = self.url
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}
