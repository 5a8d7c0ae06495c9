//! The network-policy-api kinds as kube-rs resources: ClusterNetworkPolicy (v1alpha2) and
//! the v1alpha1 AdminNetworkPolicy and BaselineAdminNetworkPolicy. Each wraps the loader's
//! typed object (the same serde types manifests are read with), so an object from the API
//! is validated and converted exactly as one from a file. The CRDs are not part of
//! Kubernetes: readers treat a 404 as "not installed" ([`crate::read`], and the agent's kube
//! source).

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::ClusterResourceScope;
use palisade_core::Tier;
use palisade_load::load::Object;
use palisade_load::{anp, cnp};
use serde::Deserialize;

/// The API group of all three kinds.
pub const GROUP: &str = "policy.networking.k8s.io";

macro_rules! cluster_kind {
    ($(#[$doc:meta])* $name:ident($inner:ty), $kind:literal, $version:literal, $plural:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl kube::Resource for $name {
            type DynamicType = ();
            type Scope = ClusterResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                $kind.into()
            }

            fn group(_: &()) -> Cow<'_, str> {
                GROUP.into()
            }

            fn version(_: &()) -> Cow<'_, str> {
                $version.into()
            }

            fn plural(_: &()) -> Cow<'_, str> {
                $plural.into()
            }

            fn meta(&self) -> &ObjectMeta {
                &self.0.metadata
            }

            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.0.metadata
            }
        }
    };
}

cluster_kind!(
    /// A `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy.
    ClusterNetworkPolicy(cnp::ClusterNetworkPolicy),
    "ClusterNetworkPolicy",
    "v1alpha2",
    "clusternetworkpolicies"
);

cluster_kind!(
    /// A `policy.networking.k8s.io/v1alpha1` AdminNetworkPolicy.
    AdminNetworkPolicy(anp::AdminNetworkPolicy),
    "AdminNetworkPolicy",
    "v1alpha1",
    "adminnetworkpolicies"
);

cluster_kind!(
    /// A `policy.networking.k8s.io/v1alpha1` BaselineAdminNetworkPolicy.
    BaselineAdminNetworkPolicy(anp::AdminNetworkPolicy),
    "BaselineAdminNetworkPolicy",
    "v1alpha1",
    "baselineadminnetworkpolicies"
);

impl From<&ClusterNetworkPolicy> for Object {
    fn from(p: &ClusterNetworkPolicy) -> Object {
        Object::ClusterPolicy(Box::new(p.0.clone()))
    }
}

impl From<&AdminNetworkPolicy> for Object {
    fn from(p: &AdminNetworkPolicy) -> Object {
        Object::AdminPolicy(Box::new(p.0.clone()), Tier::Admin)
    }
}

impl From<&BaselineAdminNetworkPolicy> for Object {
    fn from(p: &BaselineAdminNetworkPolicy) -> Object {
        Object::AdminPolicy(Box::new(p.0.clone()), Tier::Baseline)
    }
}
