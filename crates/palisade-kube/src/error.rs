//! What can go wrong reading a live cluster, each kind with the message a user can act on.
//! Every one is a problem with the input (the CLI exits 2), never a half-read cluster.

/// Why the cluster could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No kubeconfig, an unknown context, no in-cluster service account, a bad file.
    #[error("no Kubernetes configuration: {0}")]
    Config(String),
    /// Nothing answered at the server's address (refused, timed out, DNS, TLS).
    #[error("cannot reach the Kubernetes API server at {server}: {detail}")]
    Unreachable {
        /// The cluster URL from the configuration.
        server: String,
        /// The transport's own words.
        detail: String,
    },
    /// 401: the credentials were not accepted.
    #[error("the API server at {server} did not accept the credentials (401 Unauthorized): {message}; log in again or check the user of the context")]
    Unauthorized {
        /// The cluster URL.
        server: String,
        /// The API server's message.
        message: String,
    },
    /// 403: the credentials may not list one of the kinds Palisade reads.
    #[error("the API server refused to list {resource} (403 Forbidden): the credentials need the RBAC verb `list` on `{resource}` in API group \"{group}\" across all namespaces (a ClusterRole bound with a ClusterRoleBinding); the server said: {message}")]
    Forbidden {
        /// The resource (plural), e.g. `pods`.
        resource: String,
        /// The API group (`""` for the core group).
        group: String,
        /// The API server's message.
        message: String,
    },
    /// Any other answer the API server gave.
    #[error("listing {resource} failed: {code} {reason}: {message}")]
    Api {
        /// The resource (plural).
        resource: String,
        /// HTTP status.
        code: u16,
        /// The Status reason.
        reason: String,
        /// The API server's message.
        message: String,
    },
    /// An answer that is not what the API promises (not JSON, wrong shape).
    #[error("listing {resource}: the answer is not a Kubernetes list: {detail}")]
    Malformed {
        /// The resource (plural).
        resource: String,
        /// What was wrong.
        detail: String,
    },
}
