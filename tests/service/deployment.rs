//! `cloudrun.yaml` as Cloud Run reads it: both services and the migrate job, with what Cloud
//! Run requires of each, in the region our data-processing agreement names, every secret from
//! Secret Manager, and a production configuration the service itself accepts.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

const REGION: &str = "europe-west2";

/// Every document of `cloudrun.yaml`, as JSON values for easy walking.
fn documents() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/cloudrun.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in cloudrun.yaml"))
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} missing or not text: {value}"))
}

/// The variables a container is given: literal values, and secrets as `secret:NAME`.
fn environment(container: &Value) -> HashMap<String, String> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| {
            let name = text(&var["name"], "env name").to_owned();
            let value = match (&var["value"], &var["valueFrom"]["secretKeyRef"]) {
                (Value::String(v), Value::Null) => v.clone(),
                (Value::Null, secret) if secret.is_object() => {
                    assert_eq!(secret["key"], "latest", "{name}: a secret version");
                    format!("secret:{}", text(&secret["name"], "secret name"))
                }
                other => panic!("{name}: neither a value nor a secret: {other:?}"),
            };
            (name, value)
        })
        .collect()
}

/// What the container's production configuration reads, with each secret given a value of
/// the right shape, as Secret Manager would.
fn check_configuration(what: &str, env: &HashMap<String, String>) {
    for secret in invigilator::config::SECRET_VARIABLES {
        let value = env
            .get(*secret)
            .unwrap_or_else(|| panic!("{what}: {secret} not given"));
        assert!(
            value.starts_with("secret:"),
            "{what}: {secret} must come from Secret Manager, not a literal value"
        );
    }
    for (name, value) in env {
        if !invigilator::config::SECRET_VARIABLES.contains(&name.as_str()) {
            assert!(
                !value.starts_with("secret:") || name == "GOOGLE_CLIENT_ID",
                "{what}: {name} is not a secret setting"
            );
        }
    }
    assert_eq!(env["APP_ENV"], "production", "{what}");
    let key = "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let secret_values: HashMap<&str, &str> = HashMap::from([
        (
            "DATABASE_URL",
            "postgres://invigilator:pw@localhost/invigilator?host=/cloudsql/p:europe-west2:i",
        ),
        ("REDIS_URL", "rediss://:auth@10.0.0.3:6378"),
        ("TOKEN_KEYS", key),
        ("GOOGLE_CLIENT_ID", "client.apps.googleusercontent.com"),
        ("GOOGLE_CLIENT_SECRET", "client-secret"),
    ]);
    let lookup = |name: &str| -> Option<String> {
        let value = env.get(name)?;
        if value.starts_with("secret:") {
            return secret_values.get(name).map(|v| (*v).to_owned());
        }
        // The CA file is mounted at deploy time; here only its setting is checked.
        (name != "REDIS_CA_CERT").then(|| value.clone())
    };
    let config = invigilator::config::Config::from_lookup(lookup)
        .unwrap_or_else(|e| panic!("{what}: production refuses this configuration: {e}"));
    assert!(config.public_url.scheme() == "https", "{what}");
}

#[test]
fn both_services_have_what_cloud_run_requires() {
    let docs = documents();
    assert_eq!(docs.len(), 3, "two services and one job");
    for (name, args, cpu_always) in [
        ("invigilator-web", "serve", false),
        ("invigilator-worker", "work", true),
    ] {
        let service = named(&docs, "Service", name);
        assert_eq!(service["apiVersion"], "serving.knative.dev/v1");
        assert_eq!(
            service["metadata"]["labels"]["cloud.googleapis.com/location"], REGION,
            "{name}"
        );
        let template = &service["spec"]["template"];
        let annotations = &template["metadata"]["annotations"];
        let cloud_sql = text(
            &annotations["run.googleapis.com/cloudsql-instances"],
            "Cloud SQL",
        );
        assert!(
            cloud_sql.contains(&format!(":{REGION}:")),
            "{name}: {cloud_sql}"
        );
        let min: u32 = text(&annotations["autoscaling.knative.dev/minScale"], "min")
            .parse()
            .unwrap();
        let max: u32 = text(&annotations["autoscaling.knative.dev/maxScale"], "max")
            .parse()
            .unwrap();
        assert!(min >= 1 && max >= min, "{name}: {min}..{max} instances");
        let throttled = annotations["run.googleapis.com/cpu-throttling"].as_str();
        assert_eq!(
            throttled == Some("false"),
            cpu_always,
            "{name}: CPU always allocated only for the worker"
        );
        let spec = &template["spec"];
        assert!(
            text(&spec["serviceAccountName"], "service account")
                .ends_with(".iam.gserviceaccount.com"),
            "{name}"
        );
        let concurrency = spec["containerConcurrency"].as_u64().unwrap();
        assert!((1..=1000).contains(&concurrency), "{name}");
        assert!(spec["timeoutSeconds"].as_u64().unwrap() <= 3600, "{name}");

        let containers = spec["containers"].as_array().unwrap();
        // Cloud Run sends traffic to exactly one container: the one with a port.
        let ingress: Vec<&Value> = containers
            .iter()
            .filter(|c| c["ports"].is_array())
            .collect();
        assert_eq!(ingress.len(), 1, "{name}: one ingress container");
        let app = ingress[0];
        assert!(text(&app["image"], "image").contains("/invigilator/invigilator:"));
        assert_eq!(app["args"][0], args, "{name}");
        let port = app["ports"][0]["containerPort"].as_u64().unwrap();
        assert_eq!(app["startupProbe"]["httpGet"]["path"], "/readyz", "{name}");
        assert_eq!(
            app["livenessProbe"]["httpGet"]["path"], "/healthz",
            "{name}"
        );
        for probe in ["startupProbe", "livenessProbe"] {
            assert_eq!(app[probe]["httpGet"]["port"].as_u64(), Some(port), "{name}");
        }
        for sidecar in containers.iter().filter(|c| c["ports"].is_null()) {
            assert!(text(&sidecar["image"], "sidecar image").contains("gmp-sidecar"));
        }
        let env = environment(app);
        // Metrics only inside the instance, for the sidecar.
        assert!(env["METRICS_ADDR"].starts_with("127.0.0.1:"), "{name}");
        // Managed Redis over TLS, its CA mounted from Secret Manager.
        let ca = &env["REDIS_CA_CERT"];
        let mounts = app["volumeMounts"].as_array().unwrap();
        let mount = mounts
            .iter()
            .find(|m| ca.starts_with(text(&m["mountPath"], "mount path")))
            .unwrap_or_else(|| panic!("{name}: {ca} is not on a mounted volume"));
        let volume = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert!(
            volume["secret"]["secretName"].is_string(),
            "{name}: {volume}"
        );
        check_configuration(name, &env);
    }
}

#[test]
fn the_migrate_job_runs_migrate_with_the_same_configuration() {
    let docs = documents();
    let job = named(&docs, "Job", "invigilator-migrate");
    assert_eq!(job["apiVersion"], "run.googleapis.com/v1");
    assert_eq!(
        job["metadata"]["labels"]["cloud.googleapis.com/location"],
        REGION
    );
    let execution = &job["spec"]["template"];
    assert!(
        text(
            &execution["metadata"]["annotations"]["run.googleapis.com/cloudsql-instances"],
            "Cloud SQL"
        )
        .contains(REGION)
    );
    let task = &execution["spec"]["template"]["spec"];
    assert!(text(&task["serviceAccountName"], "service account").contains('@'));
    assert_eq!(
        task["maxRetries"], 0,
        "a failed migration is not repeated blindly"
    );
    let container = &task["containers"][0];
    assert_eq!(container["args"], serde_json::json!(["migrate"]));
    assert!(text(&container["image"], "image").contains("/invigilator/invigilator:"));
    check_configuration("invigilator-migrate", &environment(container));
}

#[test]
fn the_redis_in_the_example_is_reached_over_tls() {
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/cloudrun.yaml")).unwrap();
    assert!(yaml.contains("rediss://"), "the example REDIS_URL is TLS");
    assert!(
        !yaml.contains("redis://"),
        "no plain-text Redis in the example"
    );
}
