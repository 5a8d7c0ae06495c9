//! Which cluster, as kubectl resolves it: `--kubeconfig FILE`, else the `KUBECONFIG`
//! variable, else `~/.kube/config`; the current context unless `--context` names one;
//! in-cluster (the pod's service account) when there is no kubeconfig at all.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::ReadError;

/// How long to wait for a TCP/TLS connection before calling the server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one page may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The cluster to read, as the command line names it.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// `--kubeconfig`: this file instead of `KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: this context instead of the current one.
    pub context: Option<String>,
}

impl Target {
    /// The client configuration.
    pub async fn config(&self) -> Result<Config, ReadError> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let mut config = match &self.kubeconfig {
            Some(path) => {
                let file = Kubeconfig::read_from(path)
                    .map_err(|e| ReadError::Config(format!("{}: {e}", path.display())))?;
                Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(|e| ReadError::Config(format!("{}: {e}", path.display())))?
            }
            None if self.context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(|e| ReadError::Config(e.to_string()))?,
            None => Config::infer().await.map_err(|e| {
                ReadError::Config(format!(
                    "{e} (set KUBECONFIG, pass --kubeconfig, or run inside a pod with a service account)"
                ))
            })?,
        };
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        Ok(config)
    }

    /// A client for the cluster, with its URL (for messages).
    pub async fn client(&self) -> Result<(Client, String), ReadError> {
        let config = self.config().await?;
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| ReadError::Config(e.to_string()))?;
        Ok((client, server))
    }
}
