//! `--source kube`: Pods, Namespaces and NetworkPolicies through the Kubernetes API, and
//! the network-policy-api kinds (ClusterNetworkPolicy, AdminNetworkPolicy,
//! BaselineAdminNetworkPolicy: see [`palisade_kube::crd`]), each kept by a kube-rs reflector (its
//! watcher relists on start, on 410 Gone and after a watch ends, and retries with backoff
//! while the API server is away). Any change, once the stores are in sync and the burst has
//! settled, becomes one [`Input::State`] built with the same validation as manifests;
//! errors become `Input::Synced(false)` so the agent reports not-ready while it keeps
//! enforcing the last good state.
//!
//! The network-policy-api CRDs are optional: while the API answers 404 for a kind, the
//! agent warns once, counts it as empty and keeps enforcing everything else; its watcher
//! keeps retrying (with backoff), so a CRD installed later is picked up.
//!
//! Every pod of the cluster is watched, not only this node's: egress rules name remote
//! pods by their addresses, so the node needs them. Pods without an address yet (pending)
//! are left out until they get one. Every object is trimmed to the fields Palisade reads
//! before its reflector stores it ([`palisade_kube::trim`]).

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use palisade_load::{from_objects, LoadOptions, Object};
use tokio::sync::mpsc;

use crate::source::{Input, SETTLE};
use palisade_kube::crd;
use palisade_kube::trim::Trim;

/// What a watcher (by its index in [`KINDS`]) says: something changed, its kind is not
/// served (an optional kind's CRD is absent), or an error (the reflector retries).
enum Event {
    Changed(usize),
    Absent(usize),
    Failed(String),
}

/// The watched kinds, in the order of their stores; the last three are optional CRDs.
const KINDS: [&str; 6] = [
    "Pod",
    "Namespace",
    "NetworkPolicy",
    "ClusterNetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
];

/// The first optional kind's index.
const OPTIONAL: usize = 3;

/// Whether the watcher failed because the API does not serve the kind (404).
fn not_served(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 404,
        watcher::Error::WatchError(s) => s.code == 404,
        _ => false,
    }
}

fn watch<K>(api: Api<K>, kind: usize, events: mpsc::UnboundedSender<Event>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Trim
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    // Each object is trimmed before the store keeps it (see palisade_kube::trim).
    let objects = watcher(api, watcher::Config::default()).modify(|o: &mut K| o.trim());
    let stream = reflector::reflector(writer, objects).default_backoff().boxed();
    tokio::spawn(async move {
        let mut stream = stream;
        while let Some(ev) = stream.next().await {
            let msg = match ev {
                Ok(_) => Event::Changed(kind),
                Err(e) if kind >= OPTIONAL && not_served(&e) => Event::Absent(kind),
                Err(e) => Event::Failed(format!("{}: {e}", KINDS[kind])),
            };
            if events.send(msg).is_err() {
                return;
            }
        }
    });
    reader
}

/// The reflector stores of every watched kind.
struct Stores {
    pods: Store<Pod>,
    namespaces: Store<Namespace>,
    policies: Store<NetworkPolicy>,
    cluster_policies: Store<crd::ClusterNetworkPolicy>,
    admin: Store<crd::AdminNetworkPolicy>,
    baseline: Store<crd::BaselineAdminNetworkPolicy>,
}

impl Stores {
    fn watch(client: Client, events: &mpsc::UnboundedSender<Event>) -> Stores {
        Stores {
            pods: watch(Api::all(client.clone()), 0, events.clone()),
            namespaces: watch(Api::all(client.clone()), 1, events.clone()),
            policies: watch(Api::all(client.clone()), 2, events.clone()),
            cluster_policies: watch(Api::all(client.clone()), 3, events.clone()),
            admin: watch(Api::all(client.clone()), 4, events.clone()),
            baseline: watch(Api::all(client), 5, events.clone()),
        }
    }

    /// Whether each store has listed once (absent optional kinds count as in sync).
    fn in_sync(&self, absent: &[bool; 6]) -> bool {
        let ready = |r: Option<Result<(), reflector::store::WriterDropped>>| matches!(r, Some(Ok(())));
        let each = [
            ready(self.pods.wait_until_ready().now_or_never()),
            ready(self.namespaces.wait_until_ready().now_or_never()),
            ready(self.policies.wait_until_ready().now_or_never()),
            ready(self.cluster_policies.wait_until_ready().now_or_never()),
            ready(self.admin.wait_until_ready().now_or_never()),
            ready(self.baseline.wait_until_ready().now_or_never()),
        ];
        each.iter().zip(absent).all(|(r, a)| *r || *a)
    }
}

/// The cluster in the stores, as an input.
fn snapshot(stores: &Stores, opts: &LoadOptions, seen: Instant) -> Input {
    let Stores {
        pods,
        namespaces,
        policies,
        ..
    } = stores;
    let has_ip = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .is_some_and(|ip| !ip.is_empty())
    };
    let objects = namespaces
        .state()
        .into_iter()
        .map(|n| Object::Namespace(Box::new((*n).clone())))
        .chain(
            pods.state()
                .into_iter()
                .filter(|p| has_ip(p))
                .map(|p| Object::Pod(Box::new((*p).clone()))),
        )
        .chain(
            policies
                .state()
                .into_iter()
                .map(|p| Object::Policy(Box::new((*p).clone()))),
        )
        .chain(
            stores
                .cluster_policies
                .state()
                .into_iter()
                .map(|p| Object::from(&*p)),
        )
        .chain(stores.admin.state().into_iter().map(|p| Object::from(&*p)))
        .chain(stores.baseline.state().into_iter().map(|p| Object::from(&*p)));
    match from_objects(objects, opts) {
        Ok(l) => Input::State {
            cluster: Box::new(l.cluster),
            seen,
        },
        Err(e) => Input::Invalid { problems: e.0, seen },
    }
}

/// Runs the kube source on the current tokio runtime until `tx` is dropped.
pub async fn run(client: Client, opts: LoadOptions, tx: Sender<Input>) {
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let stores = Stores::watch(client, &ev_tx);
    drop(ev_tx);
    let mut synced = false;
    let mut absent = [false; 6];
    // The last state sent.
    let mut last: Option<Box<palisade_core::Cluster>> = None;
    while let Some(first) = ev_rx.recv().await {
        let seen = Instant::now();
        let mut failure = None;
        let mut handle = |ev: Event| match ev {
            Event::Failed(e) => failure = Some(e),
            Event::Absent(k) => {
                if !absent[k] {
                    tracing::warn!(
                        kind = KINDS[k],
                        "the API does not serve this kind (its CRD is not installed): enforcing without it, and watching for it"
                    );
                }
                absent[k] = true;
            }
            Event::Changed(k) => {
                if absent[k] {
                    tracing::info!(kind = KINDS[k], "the API serves this kind now: enforcing it");
                }
                absent[k] = false;
            }
        };
        handle(first);
        // Let the burst settle (a relist is many events).
        loop {
            match tokio::time::timeout(SETTLE, ev_rx.recv()).await {
                Ok(Some(ev)) => handle(ev),
                Ok(None) => return,
                Err(_) => break,
            }
            if seen.elapsed() > Duration::from_millis(500) {
                break;
            }
        }
        if let Some(e) = failure {
            synced = false;
            if tx
                .send(Input::Synced(false, format!("Kubernetes API: {e}")))
                .is_err()
            {
                return;
            }
            continue;
        }
        if !stores.in_sync(&absent) {
            continue;
        }
        // Sent only when it differs from the last state sent: the watchers of kinds the
        // API does not serve retry on 404 (restarting, failing again) without changing it.
        let state = snapshot(&stores, &opts, seen);
        if let Input::State { cluster, .. } = &state {
            if synced && last.as_ref() == Some(cluster) {
                continue;
            }
            last = Some(cluster.clone());
        }
        if tx.send(state).is_err() {
            return;
        }
        if !synced {
            synced = true;
            if tx.send(Input::Synced(true, String::new())).is_err() {
                return;
            }
        }
    }
}

/// Starts the kube source on its own runtime thread: in-cluster configuration, else the
/// kubeconfig (as kubectl finds it).
pub fn spawn(opts: LoadOptions, tx: Sender<Input>) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        rt.block_on(async move {
            let client = match Client::try_default().await {
                Ok(c) => {
                    let _ = ready_tx.send(Ok(()));
                    c
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            run(client, opts, tx).await;
        });
    });
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(std::io::Error::other(format!("Kubernetes client: {e}"))),
        Err(_) => Err(std::io::Error::other("Kubernetes client thread ended")),
    }
}
