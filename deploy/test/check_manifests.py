"""What deploy/test/check-files.sh asks of each rendered kustomize overlay beyond the schemas:
the properties the README promises of the Kubernetes manifests. Reads the rendered YAML on
stdin; prints each problem and exits 1 if there is any."""

import sys

import yaml

# Each Abacus service's health routes and the port they are on (the services' defaults:
# aggregator.admin_address, storage_worker.admin_address, api.listen_address).
HEALTH = {
    "aggregator": (8126, {"/healthz"}),
    "storage-worker": (8127, {"/healthz", "/readyz"}),
    "api": (8080, {"/healthz", "/readyz"}),
}

problems = []
objects = [o for o in yaml.safe_load_all(sys.stdin) if o]
by_kind = {}
for o in objects:
    by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o


def port_number(container, port):
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return declared["containerPort"]
    problems.append(f"{container['name']}: probe port {port!r} is not declared")
    return None


for name, (port, routes) in HEALTH.items():
    deployment = by_kind.get("Deployment", {}).get(name)
    if deployment is None:
        problems.append(f"no Deployment {name}")
        continue
    spec = deployment["spec"]["template"]["spec"]
    pod_security = spec.get("securityContext", {})
    if not pod_security.get("runAsNonRoot"):
        problems.append(f"{name}: the pod does not require a non-root user")
    if not spec.get("terminationGracePeriodSeconds", 0) >= 30:
        problems.append(f"{name}: terminationGracePeriodSeconds under 30 s")
    for container in spec["containers"]:
        security = container.get("securityContext", {})
        if not security.get("readOnlyRootFilesystem"):
            problems.append(f"{name}: the root filesystem is writable")
        if security.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: not every capability is dropped")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: privilege escalation is allowed")
        resources = container.get("resources", {})
        if not resources.get("requests") or not resources.get("limits"):
            problems.append(f"{name}: resource requests or limits are missing")
        if container.get("args", [None])[0] != name:
            problems.append(f"{name}: the container does not run the {name} service")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = container.get(probe, {}).get("httpGet")
            if get is None:
                problems.append(f"{name}: no HTTP {probe}")
                continue
            if port_number(container, get["port"]) != port or get["path"] not in routes:
                problems.append(
                    f"{name}: {probe} asks {get['path']} on {get['port']}, not one of {sorted(routes)} on {port}"
                )

replicas = lambda name: by_kind.get("Deployment", {}).get(name, {}).get("spec", {}).get("replicas", 1)
if replicas("storage-worker") < 2:
    problems.append("fewer than two storage workers")
if replicas("api") < 2:
    problems.append("fewer than two API replicas")
if "api" not in by_kind.get("HorizontalPodAutoscaler", {}):
    problems.append("no HorizontalPodAutoscaler for the API")
for name in HEALTH:
    if name not in by_kind.get("PodDisruptionBudget", {}):
        problems.append(f"no PodDisruptionBudget for {name}")

aggregator = by_kind.get("Service", {}).get("aggregator", {})
exposed = {(p["port"], p.get("protocol", "TCP")) for p in aggregator.get("spec", {}).get("ports", [])}
for wanted in [(8125, "UDP"), (8125, "TCP"), (2003, "TCP")]:
    if wanted not in exposed:
        problems.append(f"the aggregator Service does not expose {wanted[0]}/{wanted[1]}")
api = by_kind.get("Service", {}).get("api", {})
if 8080 not in {p["port"] for p in api.get("spec", {}).get("ports", [])}:
    problems.append("the api Service does not expose 8080")

# From outside the namespace: only the API's 8080 and the aggregator's ingest ports.
policies = by_kind.get("NetworkPolicy", {})
if not any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies.values()):
    problems.append("no NetworkPolicy denies ingress by default")
for policy in policies.values():
    for rule in policy["spec"].get("ingress", []):
        opened = {port["port"] for port in rule.get("ports", [])}
        same_namespace_only = rule.get("from") and all(set(peer) == {"podSelector"} for peer in rule["from"])
        if not same_namespace_only and opened & {8126, 8127}:
            problems.append(f"NetworkPolicy {policy['metadata']['name']} opens an admin port beyond the namespace")
        if not same_namespace_only and not opened:
            problems.append(f"NetworkPolicy {policy['metadata']['name']} opens every port beyond the namespace")

for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
