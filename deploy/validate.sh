#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests (deploy/) and examples (examples/kubernetes/).
#
#  1. every built-in object (Namespace, RBAC, DaemonSet, Service, Secret, and the
#     CustomResourceDefinitions themselves) against the Kubernetes OpenAPI schemas shipped by
#     PyPI's kubernetes-validate, strictly (unknown fields are errors), for every Kubernetes
#     minor from MIN_K8S to MAX_K8S;
#     plus API-server rules the schemas cannot express (Bidirectional propagation needs a
#     privileged container, volume mounts name volumes, probes name declared ports);
#  2. the ServiceMonitor's required fields (its CRD belongs to the Prometheus Operator);
#  3. kustomization.yaml lists exactly the manifests in deploy/;
#  4. deploy/crds.yaml is what `perouter crds` prints (unless SKIP_CARGO=1).
# The custom resources in examples/kubernetes/ are validated against the generated CRDs (schema and
# CEL rules) by `cargo test -p perouter-agent --test k8s_crds`.
#
# Usage: deploy/validate.sh   (from anywhere; needs python3 with venv, and cargo unless SKIP_CARGO=1)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MIN_K8S="${MIN_K8S:-1.30}"
MAX_K8S="${MAX_K8S:-1.35}"
VENV="${PEROUTER_VALIDATE_VENV:-${TMPDIR:-/tmp}/perouter-validate-venv}"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0' 'PyYAML>=6'
fi

"$VENV/bin/python" - "$ROOT" "$MIN_K8S" "$MAX_K8S" <<'PY'
import glob, os, sys
import yaml
import kubernetes_validate

root, lo, hi = sys.argv[1], sys.argv[2], sys.argv[3]
minor = lambda v: int(v.split(".")[1])
versions = [f"1.{m}.0" for m in range(minor(lo), minor(hi) + 1)]
files = sorted(glob.glob(os.path.join(root, "deploy", "*.yaml"))) + \
        sorted(glob.glob(os.path.join(root, "examples", "kubernetes", "*.yaml")))
ours = "network.openperouter.io/"
failures, checked, deferred = [], 0, 0

for path in files:
    rel = os.path.relpath(path, root)
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for i, doc in enumerate(docs):
        what = f"{rel}[{i}] {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        api = doc.get("apiVersion", "")
        if os.path.basename(path) == "kustomization.yaml":
            continue
        if api.startswith(ours):
            deferred += 1  # cargo test -p perouter-agent --test k8s_crds
            continue
        if api.startswith("monitoring.coreos.com/"):
            spec = doc.get("spec", {})
            if not spec.get("selector") or not spec.get("endpoints"):
                failures.append(f"{what}: ServiceMonitor needs spec.selector and spec.endpoints")
            for ep in spec.get("endpoints", []):
                if "port" not in ep and "targetPort" not in ep:
                    failures.append(f"{what}: endpoint without port")
            checked += 1
            continue
        if doc.get("kind") in ("DaemonSet", "Deployment", "StatefulSet", "Pod"):
            pod = doc["spec"]["template"]["spec"] if doc["kind"] != "Pod" else doc["spec"]
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                sc = c.get("securityContext", {})
                # API-server rules the OpenAPI schemas cannot express (pkg/apis/core/validation).
                if any(m.get("mountPropagation") == "Bidirectional" for m in c.get("volumeMounts", [])) and not sc.get("privileged"):
                    failures.append(f"{what}: container {c['name']}: Bidirectional mount propagation needs privileged: true")
                if sc.get("privileged") and sc.get("allowPrivilegeEscalation") is False:
                    failures.append(f"{what}: container {c['name']}: privileged with allowPrivilegeEscalation: false is refused")
                for m in c.get("volumeMounts", []):
                    if m["name"] not in {v["name"] for v in pod.get("volumes", [])}:
                        failures.append(f"{what}: container {c['name']}: volumeMount {m['name']} has no volume")
                for probe in ("livenessProbe", "readinessProbe"):
                    port = c.get(probe, {}).get("httpGet", {}).get("port")
                    if isinstance(port, str) and port not in {p.get("name") for p in c.get("ports", [])}:
                        failures.append(f"{what}: container {c['name']}: {probe} port {port} is not a named port")
        for v in versions:
            try:
                kubernetes_validate.validate(doc, v, strict=True)
            except kubernetes_validate.ValidationError as e:
                failures.append(f"{what} (Kubernetes {v}): {e.message} at {'.'.join(map(str, e.path))}")
            except kubernetes_validate.SchemaNotFoundError as e:
                failures.append(f"{what} (Kubernetes {v}): no schema: {e}")
        checked += 1

# The kustomization lists every manifest of deploy/, and nothing else.
with open(os.path.join(root, "deploy", "kustomization.yaml")) as f:
    kust = yaml.safe_load(f)
listed = set(kust.get("resources", []))
present = {os.path.basename(p) for p in glob.glob(os.path.join(root, "deploy", "*.yaml"))} - {"kustomization.yaml"}
if listed != present:
    failures.append(f"deploy/kustomization.yaml resources {sorted(listed)} != manifests {sorted(present)}")

for f in failures:
    print("FAIL", f)
print(f"{checked} objects checked against Kubernetes {versions[0]}..{versions[-1]}, "
      f"{deferred} custom resources left to cargo test, {len(failures)} failures")
sys.exit(1 if failures else 0)
PY

if [ "${SKIP_CARGO:-0}" != "1" ]; then
  cd "$ROOT"
  if ! cargo run --quiet -p perouter-agent -- crds | diff -u deploy/crds.yaml - ; then
    echo "FAIL deploy/crds.yaml is stale: run 'cargo run -p perouter-agent -- crds > deploy/crds.yaml'"
    exit 1
  fi
  echo "deploy/crds.yaml matches 'perouter crds'"
fi
