//! `--source kube`: Pods, Namespaces and NetworkPolicies through the Kubernetes API, each
//! kept by a kube-rs reflector (its watcher relists on start, on 410 Gone and after a
//! watch ends, and retries with backoff while the API server is away). Any change, once
//! the three stores are in sync and the burst has settled, becomes one [`Input::State`]
//! built with the same validation as manifests; errors become `Input::Synced(false)` so the
//! agent reports not-ready while it keeps enforcing the last good state.
//!
//! Every pod of the cluster is watched, not only this node's: egress rules name remote
//! pods by their addresses, so the node needs them. Pods without an address yet (pending)
//! are left out until they get one.

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

/// What a watcher says: something changed, or an error (the reflector retries).
enum Event {
    Changed,
    Failed(String),
}

fn watch<K>(api: Api<K>, events: mpsc::UnboundedSender<Event>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .boxed();
    tokio::spawn(async move {
        let mut stream = stream;
        while let Some(ev) = stream.next().await {
            let msg = match ev {
                Ok(_) => Event::Changed,
                Err(e) => Event::Failed(e.to_string()),
            };
            if events.send(msg).is_err() {
                return;
            }
        }
    });
    reader
}

/// The cluster in the three stores, as an input.
fn snapshot(
    pods: &Store<Pod>,
    namespaces: &Store<Namespace>,
    policies: &Store<NetworkPolicy>,
    opts: &LoadOptions,
    seen: Instant,
) -> Input {
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
        );
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
    let pods = watch(Api::<Pod>::all(client.clone()), ev_tx.clone());
    let namespaces = watch(Api::<Namespace>::all(client.clone()), ev_tx.clone());
    let policies = watch(Api::<NetworkPolicy>::all(client), ev_tx);
    let mut synced = false;
    while let Some(first) = ev_rx.recv().await {
        let seen = Instant::now();
        let mut failure = None;
        let mut handle = |ev: Event| {
            if let Event::Failed(e) = ev {
                failure = Some(e);
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
        let in_sync =
            |ready: Option<Result<(), reflector::store::WriterDropped>>| matches!(ready, Some(Ok(())));
        let ready = in_sync(pods.wait_until_ready().now_or_never())
            && in_sync(namespaces.wait_until_ready().now_or_never())
            && in_sync(policies.wait_until_ready().now_or_never());
        if !ready {
            continue;
        }
        if tx
            .send(snapshot(&pods, &namespaces, &policies, &opts, seen))
            .is_err()
        {
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
