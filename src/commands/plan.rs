//! `canary-gate plan`: what `run` would do, for a pull request to show before it merges: the
//! objects it would create or change (unified diffs), the weight schedule with its timings, the
//! rendered metric queries and the webhooks. On the console, in the job summary and as a check run.
//!
//! Reads the spec files, the manifests beside them (`--apply`) and, when it is reachable, the
//! cluster. Must never write to the cluster: it holds no lock and sends only GETs.

use super::specs;
use crate::cli::PlanArgs;
use crate::driver::edges::{Edges, Placed, Scope, choose};
use crate::driver::init::sequence;
use crate::driver::{Cluster, namespace_of, runtime};
use crate::error::{Error, Outcome};
use crate::k8s::connect;
use crate::k8s::desired::{ClusterRead, InitStep, Read, as_value, from_dynamic, to_dynamic};
use crate::k8s::state_store::StateStore;
use crate::metrics::{self, queries};
use crate::report::diff::{Change, ObjectChange};
use crate::report::summary::SharedFiles;
use crate::report::{Event, Report, Reporter, Section, Verdict, redact_url};
use crate::rollout::{Phase, Plan, Strategy};
use crate::settings::Settings;
use crate::spec::duration::format_duration;
use crate::spec::manifests::{Manifest, manifests};
use crate::spec::model::{Canary, MetricTemplate};
use crate::workload::images::set_images;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ApiResource, DynamicObject};
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
    let files = manifests(&crate::sources::read_all(&inputs, false)?, false)?;
    let runtime = runtime()?;
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
            let fallback = conn.as_ref().map_or("default", |c| c.namespace.as_str());
            let placed = Placed::new(namespace_of(settings, fallback, c), c);
            let (namespace, plan) = (&placed.namespace, &placed.plan);
            let scope = placed.scope(c, &cluster);
            let look = Lookup {
                files: &files,
                client: conn.as_ref().map(|c| &c.client),
                namespace,
                target: &c.target.name,
                images: &settings.images,
                notes: Default::default(),
            };
            let first = match &conn {
                Some(conn) => StateStore::open(&conn.client, namespace, &c.name)
                    .await
                    .map_or(true, |s| {
                        s.state().is_none_or(|s| s.phase == Phase::Initializing)
                    }),
                None => true,
            };
            let edges = choose(&scope);
            let observer = edges.as_ref().ok().and_then(|e| e.observer);
            let objects = match &edges {
                Ok(edges) => objects(edges, plan, &look, first).await,
                Err(e) => Err(Error::Invalid(e.to_string())),
            };
            let objects = objects.unwrap_or_else(|e| {
                look.note(e.to_string());
                Vec::new()
            });
            let notes = look.notes.lock().map(|n| n.clone()).unwrap_or_default();
            let queries =
                metric_queries(&scope, observer, &loaded.templates, &look, settings).await;
            let changes = objects_markdown(&objects, &notes, conn.is_some());
            let mut report = plan_report(settings, c, namespace, plan, changes, queries);
            report.sections.push(Section {
                title: "Alerts".into(),
                body: alerts(&loaded, c),
            });
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

/// The report `plan` shows for one canary: its summary, then what `run` would change, the
/// schedule, the metric queries and the webhooks.
fn plan_report(
    settings: &Settings,
    c: &Canary,
    namespace: &str,
    plan: &Plan,
    changes: String,
    queries: String,
) -> Report {
    let mut report = Report::new(format!("{namespace}/{} (plan)", c.name), "plan");
    report.spec_file = Some(c.origin.file.clone());
    report.run_url = settings.github.run_url();
    report.verdict = Some(Verdict::Planned);
    report.message = Some(plan.summary());
    report.sections = vec![
        Section {
            title: "What run would change".into(),
            body: changes,
        },
        Section {
            title: "Schedule".into(),
            body: schedule(plan),
        },
        Section {
            title: "Metric queries".into(),
            body: queries,
        },
        Section {
            title: "Webhooks".into(),
            body: webhooks(plan),
        },
    ];
    report
}

/// Objects from the files first (the state after `--apply`, the target with `--image` set),
/// then from the cluster. A failed read is a note, never an error.
struct Lookup<'a> {
    files: &'a [Manifest],
    client: Option<&'a kube::Client>,
    namespace: &'a str,
    /// The target's name and the `--image` pairs set on it.
    target: &'a str,
    images: &'a [String],
    notes: std::sync::Mutex<Vec<String>>,
}

impl Lookup<'_> {
    fn note(&self, note: String) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.push(note);
        }
    }

    fn in_files(&self, resource: &ApiResource, name: &str) -> Option<DynamicObject> {
        let m = self
            .files
            .iter()
            .find(|m| m.kind == resource.kind && m.name == name)?;
        match serde_json::from_value(m.doc.clone()) {
            Ok(k) => Some(k),
            Err(e) => {
                self.note(format!("{}: {}/{name}: {e}", m.file, m.kind));
                None
            }
        }
    }

    /// The object as the cluster has it now.
    async fn live(&self, resource: &ApiResource, name: &str) -> Option<DynamicObject> {
        self.live_in(resource, self.namespace, name).await
    }

    /// The object in namespace `ns` as the cluster has it now.
    async fn live_in(&self, resource: &ApiResource, ns: &str, name: &str) -> Option<DynamicObject> {
        let read = ClusterRead::new(self.client?, ns);
        read.get(resource, name).await.unwrap_or_else(|e| {
            self.note(e.to_string());
            None
        })
    }

    /// `--image` on the target Deployment.
    fn with_images(&self, found: DynamicObject) -> Result<DynamicObject, Error> {
        let Some(mut d) = from_dynamic::<Deployment>(&found) else {
            return Ok(found);
        };
        set_images(&mut d, self.images).map_err(Error::Invalid)?;
        Ok(to_dynamic(&d).unwrap_or(found))
    }
}

#[async_trait::async_trait]
impl Read for Lookup<'_> {
    async fn get(
        &self,
        resource: &ApiResource,
        name: &str,
    ) -> Result<Option<DynamicObject>, Error> {
        let found = match self.in_files(resource, name) {
            Some(d) => Some(d),
            None => self.live(resource, name).await,
        };
        let target = resource.kind == "Deployment" && name == self.target;
        match found {
            Some(d) if target && !self.images.is_empty() => self.with_images(d).map(Some),
            other => Ok(other),
        }
    }

    async fn get_in(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
    ) -> Result<Option<DynamicObject>, Error> {
        let in_files = self.files.iter().find(|m| {
            m.kind == resource.kind
                && m.name == name
                && m.doc["metadata"]["namespace"].as_str().unwrap_or("") == namespace
        });
        match in_files {
            Some(m) => Ok(serde_json::from_value(m.doc.clone()).ok()),
            None => Ok(self.live_in(resource, namespace, name).await),
        }
    }
}

/// What `run` would change, in the order it would: the release on the target, then every step
/// of initialization (the same steps `init` applies), then what promotion would write.
async fn objects(
    edges: &Edges<'_>,
    plan: &Plan,
    look: &Lookup<'_>,
    first: bool,
) -> Result<Vec<ObjectChange>, Error> {
    let mut out: Vec<ObjectChange> = release(plan, look).await.into_iter().collect();
    let seq = sequence(edges, look, first).await?;
    for step in &seq.steps {
        match step {
            InitStep::Apply(d) => {
                let live = d.live(look).await?;
                let after = d.after(live.as_ref()).or_else(|| live.clone());
                let after = after.as_ref().map(as_value).unwrap_or(Value::Null);
                let before = live.as_ref().map(as_value);
                out.push(ObjectChange::between(
                    &d.object(),
                    d.when,
                    before.as_ref(),
                    &after,
                ));
            }
            InitStep::ScaleTargetToZero { object, replicas } => out.push(ObjectChange::between(
                object,
                "scaled to zero once the primary is ready; up again for each new revision",
                Some(&json!({"spec": {"replicas": replicas}})),
                &json!({"spec": {"replicas": 0}}),
            )),
            InitStep::WaitPrimaryReady | InitStep::WaitRouteAccepted => {}
        }
    }
    if look
        .live(
            &ApiResource::erase::<Deployment>(&()),
            &plan.names.primary_workload,
        )
        .await
        .is_some()
    {
        for d in edges.workload.promotion(look, None).await? {
            let live = look.live(&d.resource, &d.name).await;
            if let Some(after) = d.after(live.as_ref()) {
                let before = live.as_ref().map(as_value);
                out.push(ObjectChange::between(
                    &d.object(),
                    d.when,
                    before.as_ref(),
                    &as_value(&after),
                ));
            }
        }
    }
    Ok(out)
}

/// The target as `--apply` and `--image` leave it, against the cluster's (replicas are
/// canary-gate's to set, so they are not compared).
async fn release(plan: &Plan, look: &Lookup<'_>) -> Option<ObjectChange> {
    let resource = ApiResource::erase::<Deployment>(&());
    let name = &plan.names.target;
    let live = look.live(&resource, name).await?;
    let want = look.get(&resource, name).await.unwrap_or_else(|e| {
        look.note(e.to_string());
        None
    })?;
    let (mut live_v, mut want_v) = (as_value(&live), as_value(&want));
    for v in [&mut live_v, &mut want_v] {
        v["spec"]["replicas"] = Value::Null;
        v["metadata"]["resourceVersion"] = Value::Null;
    }
    let what = format!("deployment/{name}");
    let change = ObjectChange::between(
        &what,
        "applied first: --apply, --image",
        Some(&live_v),
        &want_v,
    );
    (change.change != Change::Unchanged).then_some(change)
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
    scope: &Scope<'_>,
    observer: Option<queries::Observer<'_>>,
    templates: &[MetricTemplate],
    look: &Lookup<'_>,
    settings: &Settings,
) -> String {
    let default_server = settings
        .metrics_server
        .as_ref()
        .map_or_else(|| metrics::DEFAULT_SERVER.to_string(), |u| u.to_string());
    let plan = scope.plan;
    let ctx = queries::Context {
        observer,
        plan,
        namespace: look.namespace,
        default_server: &default_server,
        latest_revision: None,
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

/// Where each alert would go: its severity, the provider's type and channel, and the address
/// only by its host (it is a credential).
fn alerts(loaded: &crate::spec::Loaded, c: &Canary) -> String {
    if c.analysis.alerts.is_empty() {
        return "None.\n".into();
    }
    let mut md = String::from(
        "| alert | severity | provider | type | channel | address |\n|---|---|---|---|---|---|\n",
    );
    for a in &c.analysis.alerts {
        let r = &a.provider;
        let severity = format!("{:?}", a.severity).to_lowercase();
        let Some(p) = loaded.alert_provider_for(c, &r.name, r.namespace.as_deref()) else {
            let _ = writeln!(
                md,
                "| {} | {severity} | {} | read from the cluster at run time | | |",
                a.name, r.name
            );
            continue;
        };
        let address = match (&p.address, &p.secret) {
            (Some(addr), _) => url::Url::parse(addr)
                .ok()
                .and_then(|u| u.host_str().map(|h| format!("`https://{h}/…`")))
                .unwrap_or_else(|| "(not a URL)".into()),
            (None, Some(s)) => format!("from secret/{s}"),
            (None, None) => String::new(),
        };
        let kind = format!("{:?}", p.kind).to_lowercase();
        let channel = p.channel.as_deref().unwrap_or("");
        let _ = writeln!(
            md,
            "| {} | {severity} | {} | {kind} | {channel} | {address} |",
            a.name, p.name
        );
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
