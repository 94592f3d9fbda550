//! A release before the rollout: `--apply` (server-side apply of the manifests, Flagger documents
//! skipped) and `--image` (`kubectl set image` on the target). Writes only the user's own objects.

use super::executor::Executor;
use crate::error::Error;
use crate::k8s::write::ensure;
use crate::settings::Settings;
use crate::spec::manifests as specs;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;

/// The target as it is, checked against `--image`: every container named must exist. Reads only,
/// so a wrong name is refused before anything is written.
pub async fn check_images(exec: &Executor<'_>, images: &[String]) -> Result<(), Error> {
    let scope = exec.scope();
    let api: Api<Deployment> = Api::namespaced(exec.client().clone(), scope.namespace);
    let target = &scope.plan.names.target;
    let current =
        crate::k8s::write::read_opt(&api, target, &format!("reading deployment/{target}")).await?;
    let mut check = current.unwrap_or_default();
    check.metadata.name = Some(target.clone());
    crate::workload::images::set_images(&mut check, images).map_err(Error::Invalid)
}

/// `kubectl set image` on the target Deployment. `strict`: every container must exist (one
/// canary); otherwise only the pairs whose container the target has are set (several canaries).
pub async fn set_images(exec: &Executor<'_>, images: &[String], strict: bool) -> Result<(), Error> {
    let scope = exec.scope();
    let api: Api<Deployment> = Api::namespaced(exec.client().clone(), scope.namespace);
    let target = &scope.plan.names.target;
    let images: Vec<String> = if strict {
        check_images(exec, images).await?;
        images.to_vec()
    } else {
        let current =
            crate::k8s::write::read_opt(&api, target, &format!("reading deployment/{target}"))
                .await?;
        let check = current.unwrap_or_default();
        let pod = check.spec.template.spec.unwrap_or_default();
        let has = |name: &str| {
            pod.containers
                .iter()
                .chain(pod.init_containers.iter().flatten())
                .any(|c| c.name == name)
        };
        images
            .iter()
            .filter(|i| i.split_once('=').is_some_and(|(c, _)| has(c)))
            .cloned()
            .collect()
    };
    if images.is_empty() {
        return Ok(());
    }
    ensure(
        &api,
        target,
        &format!("setting images on deployment/{target}"),
        |cur| {
            let mut next = cur?.clone();
            crate::workload::images::set_images(&mut next, &images).ok()?;
            Some(next)
        },
    )
    .await?;
    Ok(())
}

/// `--apply`: every non-Flagger document of the files, server-side applied; a line per object.
pub async fn apply_files(
    settings: &Settings,
    exec: &Executor<'_>,
    files: &[String],
) -> Result<Vec<String>, Error> {
    let mut applied = Vec::new();
    use kube::api::{DynamicObject, Patch, PatchParams};
    use kube::core::GroupVersionKind;
    let inputs: Vec<_> = files.iter().map(|f| settings.input_path(f)).collect();
    let sources = crate::sources::read_all(&inputs, false)?;
    for m in specs::manifests(&sources, true)? {
        let specs::Manifest {
            file,
            api_version,
            kind,
            name,
            doc,
        } = m;
        let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
        let gvk = GroupVersionKind::gvk(group, version, &kind);
        let (resource, caps) = kube::discovery::pinned_kind(exec.client(), &gvk)
            .await
            .map_err(|e| {
                Error::Invalid(format!(
                    "{file}: {api_version} {kind} is not served by the cluster: {e}"
                ))
            })?;
        let api: kube::Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
            let ns = doc["metadata"]["namespace"]
                .as_str()
                .unwrap_or(exec.scope().namespace)
                .to_string();
            kube::Api::namespaced_with(exec.client().clone(), &ns, &resource)
        } else {
            kube::Api::all_with(exec.client().clone(), &resource)
        };
        let what = format!("applying {file} {kind}/{name}");
        let params = PatchParams::apply("canary-gate").force();
        let patch = Patch::Apply(&doc);
        crate::k8s::write::with_retries(&what, || api.patch(&name, &params, &patch))
            .await
            .map_err(|e| crate::k8s::write::patch_failed(&what, e))?;
        applied.push(format!("applied {kind}/{name} from {file}"));
    }
    Ok(applied)
}
