//! `canary-gate init`: take over the target the way Flagger initializes a canary (reference §2.5
//! steps 6-14), in order: canary and primary Services, the primary Deployment (configs, HPA),
//! wait for it, apex Service → primary, target scaled to zero, the canary Ingress, state
//! `Initialized`. Idempotent: a second run writes nothing but the lock.

use super::specs;
use crate::cli::{ClusterArgs, InitArgs};
use crate::error::{Error, Outcome};
use crate::k8s::events::{self, Involved};
use crate::k8s::lock;
use crate::k8s::state_store::StateStore;
use crate::k8s::{Connection, canary_id, connect};
use crate::rollout::{Phase, Plan, RolloutState};
use crate::router::{gateway_api, nginx, services};
use crate::settings::Settings;
use crate::spec::duration::parse_go_duration;
use crate::spec::model::{Canary, Provider, TargetKind};
use crate::spec::validate::ACTED_ON_PROVIDERS;
use crate::workload::deployment::DeploymentWorkload;
use crate::workload::{Options, service_target};
use std::time::Duration;

/// Runs `init` for every canary in the given specs, one after the other.
pub fn run(settings: &Settings, args: &InitArgs) -> Result<Outcome, Error> {
    let Some(loaded) = specs::load_valid(settings, "initialize", "init")? else {
        return Ok(Outcome::Invalid);
    };
    let cluster = Cluster::from_args(&args.cluster)?;
    for c in &loaded.canaries {
        check_supported(c)?;
    }
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let conn = connect(settings, cluster.context.as_deref()).await?;
        for c in &loaded.canaries {
            initialize(settings, &cluster, &conn, c).await?;
        }
        Ok(Outcome::Success)
    })
}

/// Cluster options, parsed.
pub struct Cluster {
    /// Kubeconfig context.
    pub context: Option<String>,
    /// Lock wait.
    pub lock_timeout: Duration,
    /// Workload options.
    pub workload: Options,
    /// NGINX annotation prefix.
    pub ingress_prefix: String,
}

impl Cluster {
    /// Parses the flags (a bad value is invalid input).
    pub fn from_args(a: &ClusterArgs) -> Result<Cluster, Error> {
        let lock_timeout = parse_go_duration(&a.lock_timeout).ok_or_else(|| {
            Error::Invalid(format!(
                "--lock-timeout: {:?} is not a duration (e.g. 30s, 5m)",
                a.lock_timeout
            ))
        })?;
        let list = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let selector_labels = list(&a.selector_labels);
        if selector_labels.is_empty() {
            return Err(Error::Invalid(
                "--selector-labels: at least one label key is needed".into(),
            ));
        }
        Ok(Cluster {
            context: a.context.clone(),
            lock_timeout,
            workload: Options {
                selector_labels,
                include_label_prefixes: list(&a.include_label_prefix),
                config_tracking: a.enable_config_tracking,
            },
            ingress_prefix: a
                .ingress_annotations_prefix
                .trim_end_matches('/')
                .to_string(),
        })
    }
}

/// What this build can drive; anything else is refused before any write.
pub fn check_supported(c: &Canary) -> Result<(), Error> {
    let at = |path: &[&str]| {
        let p = crate::spec::path::FieldPath::of(path);
        format!("{}:{}", c.origin.file, c.origin.pos(&p))
    };
    if !ACTED_ON_PROVIDERS.contains(&c.effective_provider) {
        return Err(Error::Invalid(format!(
            "{}: canary {}: provider {} is not driven by canary-gate yet (it drives nginx, gatewayapi:v1, gatewayapi:v1beta1 and kubernetes)",
            at(&["spec", "provider"]),
            c.name,
            c.effective_provider.as_str()
        )));
    }
    if !matches!(c.target.kind, TargetKind::Deployment | TargetKind::Service)
        || c.service.is_none() && c.target.kind == TargetKind::Deployment
    {
        return Err(Error::Invalid(format!(
            "{}: canary {}: target kind {:?} is not driven by canary-gate yet (Deployment and Service are)",
            at(&["spec", "targetRef", "kind"]),
            c.name,
            c.target.kind
        )));
    }
    Ok(())
}

/// The canary's namespace: its spec, else the `namespace` input, else the kubeconfig context's.
pub fn namespace_of(settings: &Settings, conn: &Connection, c: &Canary) -> String {
    c.namespace
        .clone()
        .or_else(|| settings.namespace.clone())
        .unwrap_or_else(|| conn.namespace.clone())
}

/// The lock holder's name: the workflow run, or host and process.
pub fn holder(settings: &Settings) -> String {
    settings.github.run_url().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
            })
            .unwrap_or_else(|| "localhost".into());
        format!("{host}/pid-{}", std::process::id())
    })
}

async fn initialize(
    settings: &Settings,
    cluster: &Cluster,
    conn: &Connection,
    c: &Canary,
) -> Result<(), Error> {
    let namespace = super::init::namespace_of(settings, conn, c);
    under_lock(settings, cluster, conn, &namespace, &c.name, async |who| {
        initialize_locked(settings, cluster, conn, c, &namespace, who).await
    })
    .await
}

/// Runs `body` holding the run lock of canary `name`, releasing it afterwards whatever `body`
/// returned; `body` is given the holder identity written into the lease.
pub async fn under_lock<T>(
    settings: &Settings,
    cluster: &Cluster,
    conn: &Connection,
    namespace: &str,
    name: &str,
    body: impl AsyncFnOnce(&str) -> Result<T, Error>,
) -> Result<T, Error> {
    let who = holder(settings);
    let mut lock = lock::acquire(&conn.client, namespace, name, &who, cluster.lock_timeout).await?;
    let result = tokio::select! {
        r = body(&who) => r,
        other = lock.taken_over() => Err(lock.taken_over_error(namespace, name, &other)),
    };
    // A failure may be the sign of a takeover (another job's writes): say so when it is.
    let result = match result {
        Err(e) => match lock.holder_now().await {
            Some(other) => Err(lock.taken_over_error(namespace, name, &other)),
            None => Err(e),
        },
        other => other,
    };
    lock.release().await;
    result
}

/// Everything the cluster must hold before anything is written, read and checked: the Ingress and
/// its apex backend (NGINX), a foreign HTTPRoute (Gateway API), the HPA, the tracked configs, a
/// named target port. A missing or wrong object is an input error and nothing is written.
#[allow(clippy::too_many_arguments)]
async fn preflight(
    c: &Canary,
    plan: &Plan,
    cluster: &Cluster,
    client: &kube::Client,
    namespace: &str,
    owner: &str,
    workload: &DeploymentWorkload<'_>,
    target: &crate::workload::deployment::Target,
) -> Result<(), Error> {
    if let Some(route) = gateway_api::input(c, plan, namespace) {
        gateway_api::check_owner(client, &route, owner).await?;
    }
    if c.effective_provider == Provider::Nginx
        && let (Some(ingress), Some(service)) = (&c.ingress, &c.service)
    {
        nginx::desired_canary(
            client,
            namespace,
            ingress,
            &service.name,
            &cluster.ingress_prefix,
            owner,
        )
        .await?;
    }
    if let Some(a) = &c.autoscaler {
        let api: kube::Api<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler> =
            kube::Api::namespaced(client.clone(), namespace);
        let what = format!("reading horizontalpodautoscaler/{}", a.name);
        if crate::k8s::write::read_opt(&api, &a.name, &what)
            .await?
            .is_none()
        {
            return Err(Error::Invalid(format!(
                "horizontalpodautoscaler/{} (spec.autoscalerRef) does not exist in namespace {namespace}",
                a.name
            )));
        }
    }
    if let Some(crate::spec::model::PortRef::Name(port)) =
        c.service.as_ref().map(|s| &s.target_port)
    {
        let declared = target
            .pod_spec()
            .containers
            .iter()
            .flat_map(|k| k.ports.iter().flatten())
            .any(|p| p.name.as_deref() == Some(port.as_str()));
        if !declared {
            return Err(Error::Invalid(format!(
                "spec.service.targetPort: no container of deployment/{} declares a port named {port:?}",
                c.target.name
            )));
        }
    }
    // Reads each tracked ConfigMap and Secret; a missing one that is not optional is an error.
    workload.track(target, false).await?;
    Ok(())
}

/// Initialization with the canary's lock already held.
pub async fn initialize_locked(
    settings: &Settings,
    cluster: &Cluster,
    conn: &Connection,
    c: &Canary,
    namespace: &str,
    who: &str,
) -> Result<(), Error> {
    let client = &conn.client;
    let owner = canary_id(namespace, &c.name);
    let (plan, _) = Plan::new(c);
    let mut store = StateStore::open(client, namespace, &c.name).await?;
    let first = store.state().is_none_or(|s| s.phase == Phase::Initializing);
    let (hash, tracked_configs, involved_kind, uid) = match c.target.kind {
        TargetKind::Service => {
            let (target, _) =
                service_target::initialize(client, namespace, &c.target.name, &owner).await?;
            (
                service_target::spec_hash(&target),
                Default::default(),
                "Service",
                target.metadata.uid.clone(),
            )
        }
        _ => {
            let workload = DeploymentWorkload {
                client,
                namespace,
                target: &c.target.name,
                opts: &cluster.workload,
                owner: &owner,
            };
            let target = workload.read_target().await?;
            let Some(service) = c.service.as_ref() else {
                return Err(Error::Invalid(format!(
                    "canary {}: spec.service is required for a Deployment target",
                    c.name
                )));
            };
            preflight(
                c, &plan, cluster, client, namespace, &owner, &workload, &target,
            )
            .await?;
            let pod = target.pod_spec();
            let inputs =
                services::Inputs::new(namespace, &owner, service, &target.key, &target.value, &pod);
            services::apply(client, &inputs, services::Which::Canary).await?;
            services::apply(client, &inputs, services::Which::Primary).await?;
            let (created, tracked) = workload.initialize(&target).await?;
            let involved = Involved {
                api_version: "apps/v1",
                kind: "Deployment",
                namespace,
                name: &c.target.name,
                uid: target.deployment.metadata.uid.clone(),
            };
            if created {
                events::record(
                    client,
                    &involved,
                    "Normal",
                    "Synced",
                    &format!(
                        "deployment/{} created for canary {}",
                        plan.names.primary_workload, c.name
                    ),
                )
                .await;
            }
            if let Some(a) = &c.autoscaler {
                workload.initialize_hpa(a).await?;
            }
            let timeout = settings.timeout.unwrap_or(c.progress_deadline);
            workload
                .wait_primary_ready(
                    c.analysis.primary_ready_threshold,
                    c.progress_deadline,
                    timeout,
                )
                .await?;
            services::apply(client, &inputs, services::Which::Apex).await?;
            if first && workload.scale_target_to_zero(&target).await? {
                tracing::info!(
                    "deployment/{} scaled to 0: the apex Service selects the primary",
                    c.target.name
                );
            }
            if c.effective_provider == Provider::Nginx
                && let Some(ingress) = &c.ingress
            {
                nginx::reconcile(
                    client,
                    namespace,
                    ingress,
                    &service.name,
                    &cluster.ingress_prefix,
                    &owner,
                )
                .await?;
            }
            if let Some(route) = gateway_api::input(c, &plan, namespace) {
                gateway_api::reconcile(client, &route, &owner, &service.apex).await?;
                let wait = settings.timeout.unwrap_or(c.progress_deadline);
                gateway_api::read_routes(client, &route, wait).await?;
            }
            (
                target.template_hash,
                tracked.checksums,
                "Deployment",
                target.deployment.metadata.uid.clone(),
            )
        }
    };
    if first {
        let state = RolloutState {
            phase: Phase::Initialized,
            last_applied_spec: Some(hash.clone()),
            last_promoted_spec: Some(hash),
            tracked_configs,
            run: Some(who.to_string()),
            ..RolloutState::default()
        };
        store.save(&state).await?;
        let involved = Involved {
            api_version: if involved_kind == "Service" {
                "v1"
            } else {
                "apps/v1"
            },
            kind: involved_kind,
            namespace,
            name: &c.target.name,
            uid,
        };
        events::record(
            client,
            &involved,
            "Normal",
            "Synced",
            &format!("Initialization done! {}.{}", c.name, namespace),
        )
        .await;
        println!("{namespace}/{}: initialized ({})", c.name, plan.summary());
    } else {
        let phase = store.state().map_or("unknown", |s| s.phase.kebab());
        println!(
            "{namespace}/{}: already initialized (phase {phase}); objects reconciled",
            c.name
        );
    }
    Ok(())
}
