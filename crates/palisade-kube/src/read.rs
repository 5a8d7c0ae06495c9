//! One read of the cluster: every kind Palisade needs, listed in pages (`limit` and
//! `continue`), each object trimmed as its page arrives, then handed over as the loader's
//! objects. The network-policy-api kinds are optional (a 404 means their CRD is not
//! installed: a note, not an error); every other failure is an error naming the kind.

use std::fmt::Debug;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::ListParams;
use kube::{Api, Client, Resource};
use palisade_load::Object;
use serde::de::DeserializeOwned;

use crate::crd;
use crate::trim::Trim;
use crate::{ReadError, Target};

/// Objects per page: the API server's own default for kubectl is 500.
pub const PAGE: u32 = 500;

/// How often an expired `continue` token (410 Gone) restarts a kind's list.
const RESTARTS: usize = 3;

/// Told about each page: the kind's resource name and how many objects it has so far.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize);

/// What was read.
#[derive(Default)]
pub struct ClusterRead {
    /// The objects, for [`palisade_load::from_objects`].
    pub objects: Vec<Object>,
    /// What the reader chose to leave out or could not find, for stderr.
    pub notes: Vec<String>,
    /// The API server's URL.
    pub server: String,
}

/// Reads the cluster `target` names, on a runtime of its own (for synchronous callers).
pub fn read_cluster(target: &Target, progress: Progress<'_>) -> Result<ClusterRead, ReadError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReadError::Config(format!("cannot start the client runtime: {e}")))?;
    rt.block_on(async {
        let (client, server) = target.client().await?;
        read(&client, &server, progress).await
    })
}

/// Reads every kind through `client` (`server` is its URL, for messages).
pub async fn read(client: &Client, server: &str, progress: Progress<'_>) -> Result<ClusterRead, ReadError> {
    let mut read = ClusterRead {
        server: server.to_string(),
        ..ClusterRead::default()
    };
    let namespaces: Vec<Namespace> = required(client, server, progress).await?;
    let nodes: Vec<Node> = required(client, server, progress).await?;
    let pods: Vec<Pod> = required(client, server, progress).await?;
    let policies: Vec<NetworkPolicy> = required(client, server, progress).await?;
    read.objects
        .extend(namespaces.into_iter().map(|n| Object::Namespace(Box::new(n))));
    read.objects
        .extend(nodes.into_iter().map(|n| Object::Node(Box::new(n))));
    let (running, left_out): (Vec<Pod>, Vec<Pod>) = pods.into_iter().partition(has_address);
    if !left_out.is_empty() {
        read.notes.push(format!(
            "{} pod(s) without an address (pending, succeeded or failed) left out: they cannot send or receive",
            left_out.len()
        ));
    }
    read.objects
        .extend(running.into_iter().map(|p| Object::Pod(Box::new(p))));
    read.objects
        .extend(policies.into_iter().map(|p| Object::Policy(Box::new(p))));
    if let Some(list) =
        optional::<crd::ClusterNetworkPolicy>(client, server, progress, &mut read.notes).await?
    {
        read.objects.extend(list.iter().map(Object::from));
    }
    if let Some(list) = optional::<crd::AdminNetworkPolicy>(client, server, progress, &mut read.notes).await?
    {
        read.objects.extend(list.iter().map(Object::from));
    }
    if let Some(list) =
        optional::<crd::BaselineAdminNetworkPolicy>(client, server, progress, &mut read.notes).await?
    {
        read.objects.extend(list.iter().map(Object::from));
    }
    Ok(read)
}

/// A running pod with an address; finished pods keep theirs in status, but it may be
/// reused by another pod already.
fn has_address(p: &Pod) -> bool {
    let Some(status) = &p.status else { return false };
    let finished = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
    !finished && status.pod_ip.as_deref().is_some_and(|ip| !ip.is_empty())
}

async fn required<K>(client: &Client, server: &str, progress: Progress<'_>) -> Result<Vec<K>, ReadError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Trim,
{
    list_all(client, server, progress).await
}

/// A kind whose CRD may be absent: `None` (with a note) when the API does not serve it.
async fn optional<K>(
    client: &Client,
    server: &str,
    progress: Progress<'_>,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<K>>, ReadError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Trim,
{
    match list_all(client, server, progress).await {
        Ok(list) => Ok(Some(list)),
        Err(ReadError::Api { code: 404, .. }) => {
            notes.push(format!(
                "the API does not serve {}.{}/{} (its CRD is not installed): read as none",
                K::plural(&()),
                K::group(&()),
                K::version(&())
            ));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Every object of kind `K`, page by page, trimmed as each page arrives.
async fn list_all<K>(client: &Client, server: &str, progress: Progress<'_>) -> Result<Vec<K>, ReadError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Trim,
{
    let api: Api<K> = Api::all(client.clone());
    let resource = K::plural(&()).to_string();
    let mut restarts = 0;
    'list: loop {
        let mut out: Vec<K> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = ListParams::default().limit(PAGE);
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let page = match api.list(&params).await {
                Ok(page) => page,
                // The continue token expired (the list took longer than the server keeps
                // its snapshot): start the kind again from a fresh snapshot.
                Err(kube::Error::Api(s)) if s.code == 410 && token.is_some() && restarts < RESTARTS => {
                    restarts += 1;
                    continue 'list;
                }
                Err(e) => return Err(error::<K>(e, server)),
            };
            out.extend(page.items.into_iter().map(|mut o| {
                o.trim();
                o
            }));
            progress(&resource, out.len());
            match page.metadata.continue_ {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }
}

/// The source of an error and its sources, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// A kube-rs error as one of ours, naming the kind `K`.
fn error<K: Resource<DynamicType = ()>>(e: kube::Error, server: &str) -> ReadError {
    let resource = K::plural(&()).to_string();
    let group = K::group(&()).to_string();
    match e {
        kube::Error::Api(s) if s.code == 401 => ReadError::Unauthorized {
            server: server.to_string(),
            message: s.message,
        },
        kube::Error::Api(s) if s.code == 403 => ReadError::Forbidden {
            resource,
            group,
            message: s.message,
        },
        kube::Error::Api(s) => ReadError::Api {
            resource,
            code: s.code,
            reason: s.reason,
            message: s.message,
        },
        kube::Error::SerdeError(e) => ReadError::Malformed {
            resource,
            detail: e.to_string(),
        },
        kube::Error::Auth(e) => ReadError::Config(chain(&e)),
        other => ReadError::Unreachable {
            server: server.to_string(),
            detail: chain(&other),
        },
    }
}
