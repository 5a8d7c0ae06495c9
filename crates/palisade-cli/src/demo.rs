//! `palisade demo`: analyze on the bundled three-tier shop example.

use palisade_load::Source;

/// The bundled example's files, compiled into the binary.
pub const SHOP: [(&str, &str); 3] = [
    (
        "examples/shop/namespaces.yaml",
        include_str!("../../../examples/shop/namespaces.yaml"),
    ),
    (
        "examples/shop/workloads.yaml",
        include_str!("../../../examples/shop/workloads.yaml"),
    ),
    (
        "examples/shop/policies.yaml",
        include_str!("../../../examples/shop/policies.yaml"),
    ),
];

pub fn sources() -> Vec<Source> {
    SHOP.iter()
        .map(|(name, text)| Source::Text {
            name: name.to_string(),
            text: text.to_string(),
        })
        .collect()
}

/// Loads the example and prints the analysis and two explanations.
pub fn run() -> Result<String, crate::inputs::Failure> {
    let loaded = palisade_load::load(&sources(), &palisade_load::LoadOptions::default())
        .map_err(|e| crate::inputs::Failure::Input(e.0))?;
    let c = &loaded.cluster;
    let options = palisade_core::Options::default();
    let compiled = palisade_core::compile(c, &options);
    let mut out = String::from(
        "Palisade demo: the three-tier shop (examples/shop): default deny, DNS egress, monitoring.\n\
         Same as: palisade analyze examples/shop\n\n",
    );
    out.push_str(&crate::analyze::full_table(c, &compiled)?);
    for (from, to, port) in [
        ("shop/frontend", "shop/database", "5432/TCP"),
        ("monitoring/prometheus", "shop/backend", "9090/TCP"),
    ] {
        let args = crate::explain::ExplainArgs {
            from: from.into(),
            to: to.into(),
            port: port.into(),
            output: crate::explain::Format::Text,
            exit_code: false,
            no_headers: false,
            input: crate::inputs::InputArgs {
                paths: vec![],
                live: Default::default(),
                with_shadow: false,
                model: crate::inputs::ModelArgs {
                    namespace: "default".into(),
                    pod_cidrs: vec![],
                    ipblock_pods: crate::inputs::IpBlockMode::Match,
                    externals: vec![],
                    validate: crate::inputs::ValidateMode::Strict,
                },
            },
        };
        out.push_str(&format!(
            "\n$ palisade explain --from {from} --to {to} --port {port} examples/shop\n"
        ));
        out.push_str(&crate::explain::explain_loaded(c, &args)?.0);
    }
    Ok(out)
}
