//! `canary-gate plan`: what `run` would do, for a pull request to show before it merges: the
//! objects it would create or change (unified diffs), the weight schedule with its timings, the
//! rendered metric queries and the webhooks. On the console, in the job summary and as a check run.
//!
//! Reads the spec files, the manifests beside them (`--apply`) and, when it is reachable, the
//! cluster. Must never write to the cluster: it holds no lock and sends only GETs.

use super::init::{Cluster, namespace_of};
use super::specs::{self, Manifest};
use crate::cli::PlanArgs;
use crate::error::{Error, Outcome};
use crate::k8s::{canary_id, connect};
use crate::metrics::{self, queries};
use crate::report::diff::{Change, ObjectChange};
use crate::report::summary::SharedFiles;
use crate::report::{Event, Report, Reporter, Section, Verdict, redact_url};
use crate::rollout::{Plan, Strategy};
use crate::router::{gateway_api, nginx, services};
use crate::settings::Settings;
use crate::spec::duration::format_duration;
use crate::spec::model::{Canary, MetricTemplate, Provider, TargetKind};
use crate::workload::deployment::{Target, set_images};
use crate::workload::{ROLLOUT_ID_ANNOTATION, configs, primary};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Write;
use std::time::Duration;

/// Runs `plan`.
pub fn run(settings: &Settings, args: &PlanArgs) -> Result<Outcome, Error> {
    let Some(loaded) = specs::load_valid(settings, "plan", "plan")? else {
        return Ok(Outcome::Invalid);
    };
    let cluster = Cluster::from_args(&args.cluster)?;
    let mut inputs = settings.canary.clone();
    inputs.extend(settings.apply.iter().map(|f| settings.input_path(f)));
    let files = specs::manifests(&crate::sources::read_all(&inputs, false)?, false)?;
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let conn = match connect(settings, cluster.context.as_deref()).await {
            Ok(c) => Some(c),
            Err(e) => {
                println!("no cluster ({e}): planning from the files alone");
                None
            }
        };
        // One check run per canary; one job summary and set of outputs for the command.
        let runner_files = Reporter::files_for(settings).map(SharedFiles::new);
        let fleet = crate::report::github::Fleet::new(loaded.canaries.len());
        for c in &loaded.canaries {
            let namespace = match &conn {
                Some(conn) => namespace_of(settings, conn, c),
                None => c
                    .namespace
                    .clone()
                    .or_else(|| settings.namespace.clone())
                    .unwrap_or_else(|| "default".into()),
            };
            let mut look = Lookup {
                files: &files,
                client: conn.as_ref().map(|c| &c.client),
                namespace: &namespace,
                notes: Vec::new(),
            };
            let (plan, _) = Plan::new(c);
            let objects = match objects(c, &plan, &cluster, &mut look, &settings.images).await {
                Ok(o) => o,
                Err(e) => {
                    look.notes.push(e.to_string());
                    Vec::new()
                }
            };
            let queries = metric_queries(c, &plan, &loaded.templates, &look, settings).await;
            let mut report = Report::new(format!("{namespace}/{} (plan)", c.name), "plan");
            report.spec_file = Some(c.origin.file.clone());
            report.run_url = settings.github.run_url();
            report.verdict = Some(Verdict::Planned);
            report.message = Some(plan.summary());
            report.sections = vec![
                Section {
                    title: "What run would change".into(),
                    body: objects_markdown(&objects, &look.notes, conn.is_some()),
                },
                Section {
                    title: "Schedule".into(),
                    body: schedule(&plan),
                },
                Section {
                    title: "Metric queries".into(),
                    body: queries,
                },
                Section {
                    title: "Webhooks".into(),
                    body: webhooks(&plan),
                },
            ];
            println!("{}", crate::report::markdown::render(&report));
            Reporter::for_canary(
                settings,
                &fleet,
                Duration::from_secs(10),
                false,
                runner_files.clone(),
            )
            .send(Event::Finished, &mut report)
            .await;
        }
        if let Some(f) = &runner_files {
            f.finish();
        }
        Ok(Outcome::Success)
    })
}

/// Objects from the files first (the state after `--apply`), then from the cluster.
struct Lookup<'a> {
    files: &'a [Manifest],
    client: Option<&'a kube::Client>,
    namespace: &'a str,
    notes: Vec<String>,
}

impl Lookup<'_> {
    async fn get<K>(&mut self, kind: &str, name: &str) -> Option<K>
    where
        K: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + std::fmt::Debug
            + DeserializeOwned,
    {
        if let Some(m) = self.files.iter().find(|m| m.kind == kind && m.name == name) {
            match serde_json::from_value(m.doc.clone()) {
                Ok(k) => return Some(k),
                Err(e) => self.notes.push(format!("{}: {kind}/{name}: {e}", m.file)),
            }
        }
        self.live(kind, name).await
    }

    /// The object as the cluster has it now.
    async fn live<K>(&mut self, kind: &str, name: &str) -> Option<K>
    where
        K: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + std::fmt::Debug
            + DeserializeOwned,
    {
        let api: kube::Api<K> = kube::Api::namespaced(self.client?.clone(), self.namespace);
        match api.get_opt(name).await {
            Ok(k) => k,
            Err(e) => {
                let why = crate::k8s::write::describe(&e);
                self.notes
                    .push(format!("reading {}/{name}: {why}", kind.to_lowercase()));
                None
            }
        }
    }
}

fn to_value(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

async fn objects(
    c: &Canary,
    plan: &Plan,
    cluster: &Cluster,
    look: &mut Lookup<'_>,
    images: &[String],
) -> Result<Vec<ObjectChange>, Error> {
    let mut out = Vec::new();
    if c.target.kind != TargetKind::Deployment {
        look.notes.push(format!(
            "{:?} targets are not planned object by object yet",
            c.target.kind
        ));
        return Ok(out);
    }
    let name = &c.target.name;
    let Some(mut deployment) = look.get::<Deployment>("Deployment", name).await else {
        look.notes.push(format!(
            "deployment/{name} (spec.targetRef) is in neither the files nor the cluster: run would stop there"
        ));
        return Ok(out);
    };
    let live_target: Option<Deployment> = look.live("Deployment", name).await;
    set_images(&mut deployment, images).map_err(Error::Invalid)?;
    if let Some(live) = &live_target {
        let mut live_v = to_value(live);
        let mut want_v = to_value(&deployment);
        // Replicas are canary-gate's to set; only the spec the user changes is compared.
        for v in [&mut live_v, &mut want_v] {
            v["spec"]["replicas"] = Value::Null;
        }
        let change = ObjectChange::between(
            &format!("deployment/{name}"),
            "applied first: --apply, --image",
            Some(&live_v),
            &want_v,
        );
        if change.change != Change::Unchanged {
            out.push(change);
        }
    }
    let opts = &cluster.workload;
    let target = match Target::new(deployment, &opts.selector_labels) {
        Ok(t) => t,
        Err(why) => {
            look.notes.push(why);
            return Ok(out);
        }
    };
    let owner = canary_id(look.namespace, &c.name);
    let pod = target.pod_spec();
    let tracked = if opts.config_tracking {
        configs::references(&pod).into_keys().collect()
    } else {
        Default::default()
    };
    let mut desired = primary::render(
        &target.deployment,
        &target.key,
        &target.value,
        opts,
        &tracked,
        &owner,
        "(new id)",
    );
    let primary_name = format!("{name}-primary");
    let what = format!("deployment/{primary_name}");
    match look.live::<Deployment>("Deployment", &primary_name).await {
        None => out.push(ObjectChange::between(
            &what,
            "init",
            None,
            &to_value(&desired),
        )),
        Some(live) => {
            // Promotion copies the target's pod template; the id annotation always changes.
            let live_id = live
                .spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.annotations.as_ref())
                .and_then(|a| a.get(ROLLOUT_ID_ANNOTATION))
                .cloned();
            if let (Some(id), Some(a)) = (
                live_id,
                desired
                    .spec
                    .template
                    .metadata
                    .as_mut()
                    .and_then(|m| m.annotations.as_mut()),
            ) {
                a.insert(ROLLOUT_ID_ANNOTATION.to_string(), id);
            }
            out.push(ObjectChange::between(
                &what,
                "promotion, if the analysis passes",
                Some(&json!({"spec": {"template": to_value(&live.spec.template)}})),
                &json!({"spec": {"template": to_value(&desired.spec.template)}}),
            ));
        }
    }
    if let Some(service) = &c.service {
        let inputs = services::Inputs::new(
            look.namespace,
            &owner,
            service,
            &target.key,
            &target.value,
            &pod,
        );
        for which in [
            services::Which::Canary,
            services::Which::Primary,
            services::Which::Apex,
        ] {
            let want = services::render(&inputs, which);
            let svc_name = want.metadata.name.clone().unwrap_or_default();
            let live = look.get::<Service>("Service", &svc_name).await;
            let after = match &live {
                None => want,
                Some(l) => services::reconcile(l, &want, &owner, &services::unmanaged(service))
                    .unwrap_or_else(|| l.clone()),
            };
            out.push(ObjectChange::between(
                &format!("service/{svc_name}"),
                "init",
                live.as_ref().map(to_value).as_ref(),
                &to_value(&after),
            ));
        }
        if plan.provider == Provider::Nginx
            && let Some(ing) = &plan.names.ingress
        {
            match look.get::<Ingress>("Ingress", ing).await {
                None => look.notes.push(format!(
                    "ingress/{ing} (spec.ingressRef) is in neither the files nor the cluster: init would stop there"
                )),
                Some(original) => {
                    match nginx::render_canary(&original, &service.name, &cluster.ingress_prefix, &owner) {
                        Err(why) => look.notes.push(format!("ingress/{ing}: {why}")),
                        Ok(want) => {
                            let canary_name = format!("{ing}-canary");
                            let live = look.live::<Ingress>("Ingress", &canary_name).await;
                            let after = match &live {
                                None => want,
                                Some(l) => Ingress {
                                    spec: want.spec,
                                    ..l.clone()
                                },
                            };
                            out.push(ObjectChange::between(
                                &format!("ingress/{canary_name}"),
                                "init; its canary annotations carry the weights",
                                live.as_ref().map(to_value).as_ref(),
                                &to_value(&after),
                            ));
                        }
                    }
                }
            }
        }
        if let Some(route) = gateway_api::input(c, plan, look.namespace) {
            let live = match look.client {
                Some(client) => gateway_api::read(client, &route).await.unwrap_or_else(|e| {
                    look.notes.push(e.to_string());
                    None
                }),
                None => None,
            };
            let after = gateway_api::desired(&route, live.as_ref(), &owner, &service.apex);
            out.push(ObjectChange::between(
                &format!("httproute/{}", route.name),
                "init; the rollout sets its backend weights",
                live.as_ref().map(to_value).as_ref(),
                &to_value(&after),
            ));
        }
    }
    if live_target.is_some_and(|t| t.spec.replicas != Some(0)) {
        out.push(ObjectChange::between(
            &format!("deployment/{name}"),
            "scaled to zero once the primary is ready; up again for each new revision",
            Some(&json!({"spec": {"replicas": target.deployment.spec.replicas.unwrap_or(1)}})),
            &json!({"spec": {"replicas": 0}}),
        ));
    }
    Ok(out)
}

fn objects_markdown(objects: &[ObjectChange], notes: &[String], cluster: bool) -> String {
    let mut md = String::new();
    if !cluster {
        md.push_str("_No cluster was reachable: planned from the files alone, so every object shows as new._\n\n");
    }
    for n in notes {
        let _ = writeln!(md, "- ⚠️ {n}");
    }
    for o in objects {
        let verb = match o.change {
            Change::Create => "create",
            Change::Update => "change",
            Change::Unchanged => "unchanged",
        };
        let _ = writeln!(md, "- **{verb}** `{}` ({})", o.object, o.when);
    }
    for o in objects.iter().filter(|o| o.change != Change::Unchanged) {
        let open = if o.change == Change::Update {
            " open"
        } else {
            ""
        };
        let _ = write!(
            md,
            "\n<details{open}><summary><code>{}</code></summary>\n\n```diff\n{}```\n\n</details>\n",
            o.object, o.diff
        );
    }
    md
}

fn schedule(plan: &Plan) -> String {
    let every = plan.interval;
    let mut md = String::from("| step | after | canary weight |\n|---:|---:|---:|\n");
    match &plan.strategy {
        Strategy::Canary { weights, .. } => {
            for (i, w) in weights.iter().enumerate() {
                let at = every * (i as u32 + 1);
                let _ = writeln!(md, "| {} | {} | {w}% |", i + 1, format_duration(at));
            }
        }
        Strategy::AbTesting { iterations, .. } | Strategy::BlueGreen { iterations, .. } => {
            for i in 0..*iterations {
                let at = every * (i + 1);
                let _ = writeln!(md, "| {} | {} | iteration |", i + 1, format_duration(at));
            }
        }
    }
    let _ = write!(
        md,
        "\nPromotion after **≥ {}** when every check passes; rollback after **{}** failed checks (**≥ {}** from the first failure).\n",
        format_duration(plan.time_to_promote()),
        plan.threshold,
        format_duration(plan.time_to_rollback()),
    );
    md
}

async fn metric_queries(
    c: &Canary,
    plan: &Plan,
    templates: &[MetricTemplate],
    look: &Lookup<'_>,
    settings: &Settings,
) -> String {
    let default_server = settings
        .metrics_server
        .as_ref()
        .map_or_else(|| metrics::DEFAULT_SERVER.to_string(), |u| u.to_string());
    let ctx = queries::Context {
        canary: c,
        plan,
        namespace: look.namespace,
        default_server: &default_server,
    };
    let mut md = String::new();
    if plan.metrics.is_empty() {
        md.push_str("No metrics: only webhooks and readiness gate the steps.\n");
    }
    for m in &plan.metrics {
        let template = match &m.template {
            None => Ok(None),
            Some(r) => match queries::find_template(templates, r, look.namespace) {
                Some(t) => Ok(Some(t.clone())),
                None => match look.client {
                    Some(client) => {
                        let ns = r.namespace.as_deref().unwrap_or(look.namespace);
                        crate::k8s::read_template(client, ns, &r.name)
                            .await
                            .map(Some)
                    }
                    None => Err(format!(
                        "MetricTemplate {} is not in the files; run reads it from the cluster",
                        r.name
                    )),
                },
            },
        };
        let range = match (m.min, m.max) {
            (Some(a), Some(b)) => format!("{a} ≤ value ≤ {b}"),
            (Some(a), None) => format!("value ≥ {a}"),
            (None, Some(b)) => format!("value ≤ {b}"),
            (None, None) => "any value".into(),
        };
        let _ = writeln!(md, "**{}** passes when {range}", m.name);
        match template.and_then(|t| queries::render(&ctx, m, t.as_ref())) {
            Err(why) => {
                let _ = writeln!(md, "\n⚠️ {why}\n");
            }
            Ok(list) => {
                for (endpoint, q) in list {
                    let _ = writeln!(
                        md,
                        "\non `{}`:\n\n```promql\n{}\n```\n",
                        redact_url(&endpoint.address),
                        q.trim()
                    );
                }
            }
        }
    }
    md
}

fn webhooks(plan: &Plan) -> String {
    if plan.webhooks.is_empty() {
        return "None.\n".into();
    }
    let mut md = String::from("| name | type | url | timeout |\n|---|---|---|---:|\n");
    for h in &plan.webhooks {
        let _ = writeln!(
            md,
            "| {} | {} | `{}` | {} |",
            h.name,
            h.kind.as_str(),
            redact_url(&h.url),
            format_duration(h.timeout)
        );
    }
    md
}
