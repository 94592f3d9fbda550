//! The release's `--image CONTAINER=IMAGE` inputs applied to a Deployment, as `kubectl set image`
//! does. Pure; used by `run` (before the rollout) and `plan` (to show the change).

use k8s_openapi::api::apps::v1::Deployment;

/// `kubectl set image`: each `CONTAINER=IMAGE` on the container (or init container) of that name.
pub fn set_images(d: &mut Deployment, images: &[String]) -> Result<(), String> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let pod = d.spec.template.spec.get_or_insert_with(Default::default);
    for i in images {
        let Some((container, image)) = i.split_once('=') else {
            return Err(format!("--image {i:?}: expected CONTAINER=IMAGE"));
        };
        let mut all = pod
            .containers
            .iter_mut()
            .chain(pod.init_containers.iter_mut().flatten());
        match all.find(|c| c.name == container) {
            Some(c) => c.image = Some(image.to_string()),
            None => {
                let names: Vec<&str> = pod
                    .containers
                    .iter()
                    .chain(pod.init_containers.iter().flatten())
                    .map(|c| c.name.as_str())
                    .collect();
                return Err(format!(
                    "--image: deployment/{name} has no container {container:?} (it has: {})",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(())
}
