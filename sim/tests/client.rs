//! The product's kube 5 client against the simulator over HTTP.

use canary_gate_sim::{Sim, SimConfig};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

async fn client(sim: &canary_gate_sim::SimHandle) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = Kubeconfig::read_from(&sim.kubeconfig).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

fn kube_code(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_conflicts_patches_selectors_and_gc() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let client = client(&sim).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "test"}})).unwrap(),
        )
        .await
        .unwrap();

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "test");
    let dep: Deployment = serde_json::from_value(crate::support::deployment(
        "test",
        "podinfo",
        "podinfo",
        1,
        json!({}),
    ))
    .unwrap();
    let created = deployments
        .create(&PostParams::default(), &dep)
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert_eq!(
        kube_code(
            deployments
                .create(&PostParams::default(), &dep)
                .await
                .unwrap_err()
        ),
        409
    );

    // A replace with the current resourceVersion works and bumps generation (spec changed). The
    // deployment controller may write the status between the read and the replace, as on a real
    // cluster: read again and retry then, as every client must.
    let mut attempts = 0;
    let (mut fresh, replaced) = loop {
        let mut fresh = deployments.get("podinfo").await.unwrap();
        fresh.spec.replicas = Some(2);
        match deployments
            .replace("podinfo", &PostParams::default(), &fresh)
            .await
        {
            Ok(replaced) => break (fresh, replaced),
            Err(kube::Error::Api(s)) if s.code == 409 && attempts < 20 => attempts += 1,
            Err(e) => panic!("replace: {e}"),
        }
    };
    assert_eq!(replaced.metadata.generation, Some(2));
    // The same (now stale) object again: 409 Conflict with a Status body.
    fresh.spec.replicas = Some(3);
    match deployments
        .replace("podinfo", &PostParams::default(), &fresh)
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert!(
                s.message.contains("the object has been modified"),
                "{}",
                s.message
            );
        }
        other => panic!("{other:?}"),
    }

    // Merge patch on metadata only: no generation bump.
    let labelled = deployments
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"role": "canary"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(2));
    // JSON patch with an escaped annotation key.
    let p: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/metadata/annotations", "value": {}},
        {"op": "add", "path": "/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight", "value": "10"}
    ]))
    .unwrap();
    let patched = deployments
        .patch("podinfo", &PatchParams::default(), &Patch::<()>::Json(p))
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.annotations.unwrap()["nginx.ingress.kubernetes.io/canary-weight"],
        "10"
    );
    // A failing JSON patch `test` is 422.
    let t: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 9}]))
            .unwrap();
    assert_eq!(
        kube_code(
            deployments
                .patch("podinfo", &PatchParams::default(), &Patch::<()>::Json(t))
                .await
                .unwrap_err()
        ),
        422
    );

    // Status subresource: a status write keeps spec and generation; a main write keeps status.
    let st = deployments
        .patch_status(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 7}, "status": {"replicas": 42}})),
        )
        .await
        .unwrap();
    assert_eq!(st.status.as_ref().and_then(|s| s.replicas), Some(42));
    assert_eq!(st.spec.replicas, Some(2));
    assert_eq!(st.metadata.generation, Some(2));
    let main = deployments
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1}})),
        )
        .await
        .unwrap();
    assert_ne!(
        main.status.and_then(|s| s.replicas),
        Some(1),
        "main writes do not touch status"
    );

    // Scale subresource.
    let scale = deployments.get_scale("podinfo").await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    let scaled = deployments
        .patch_scale(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(0));
    assert_eq!(
        deployments
            .get("podinfo")
            .await
            .unwrap()
            .metadata
            .generation,
        Some(3)
    );

    // Selectors: equality, set-based (encoded with '+'), field; lists sorted by name.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "test");
    let owner = deployments.get("podinfo").await.unwrap();
    for (name, role) in [("zeta", "canary"), ("alpha", "primary"), ("mid", "canary")] {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"role": role},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo",
                                              "uid": owner.metadata.uid.clone().unwrap(), "controller": true}]},
            "data": {"k": "v"}
        }))
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(cms.list(&ListParams::default()).await.unwrap()),
        vec!["alpha", "mid", "zeta"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("role=canary"))
                .await
                .unwrap()
        ),
        vec!["mid", "zeta"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("role in (primary)"))
                .await
                .unwrap()
        ),
        vec!["alpha"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("role!=canary"))
                .await
                .unwrap()
        ),
        vec!["alpha"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().fields("metadata.name=mid"))
                .await
                .unwrap()
        ),
        vec!["mid"]
    );

    // Deleting the owner collects what it owns.
    deployments
        .delete("podinfo", &DeleteParams::background())
        .await
        .unwrap();
    assert_eq!(
        kube_code(deployments.get("podinfo").await.unwrap_err()),
        404
    );
    assert!(
        cms.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "owned ConfigMaps are garbage-collected"
    );

    // Creating in a namespace that does not exist is 404, like a real API server.
    let other: Api<ConfigMap> = Api::namespaced(client, "missing");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    assert_eq!(
        kube_code(other.create(&PostParams::default(), &cm).await.unwrap_err()),
        404
    );

    let log = sim.requests();
    assert!(
        log.iter().any(|e| e.method == "PUT" && e.status == 409),
        "the request log records the conflict"
    );
}
