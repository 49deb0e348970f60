#!/usr/bin/env bash
# Starts the one-node test cluster on 127.0.0.1: etcd, kube-apiserver (RBAC, service-account
# tokens), kube-controller-manager (garbage collector, service accounts), kube-scheduler and a
# kubelet on the local Docker Engine (dockershim). Idempotent: a cluster that answers is kept.
#
#   bash scripts/k8s/up.sh        (npm run k8s:up; build.sh and .ci/docker.sh must have run)
#
# Writes $K8S_STATE/admin.kubeconfig, which the Kubernetes test suites read
# (FLAME_K8S_KUBECONFIG overrides it). Tear down with scripts/k8s/down.sh (npm run k8s:down).
#
# Everything binds loopback; no CNI, no DNS, no registry: test pods use hostNetwork and local
# images. The kubelet's AWS credential provider would dial the cloud metadata address when
# it starts, so AWS_EC2_METADATA_DISABLED=true, and the script fails if any component holds a
# socket outside 127.0.0.0/8.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$here/common.sh"
export AWS_EC2_METADATA_DISABLED=true

for b in "${K8S_BINARIES[@]}" pause; do
  [ -x "$K8S_BIN/$b" ] || { echo "k8s: $K8S_BIN/$b missing: run scripts/k8s/build.sh first" >&2; exit 1; }
done
command -v etcd >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
}
docker info >/dev/null 2>&1 || { echo "k8s: no Docker Engine: run .ci/docker.sh first" >&2; exit 1; }
kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$K8S_KUBECONFIG" "$@"; }

if [ -f "$K8S_KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1 \
  && kubectl get node 127.0.0.1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True; then
  k8s_log "cluster already up ($K8S_KUBECONFIG)"; exit 0
fi
# A half-started cluster from an earlier run goes first.
bash "$here/down.sh" >/dev/null 2>&1 || true

started=$(date +%s%N)
mkdir -p "$K8S_STATE"/{pki,pids,logs,etcd,kubelet}
cd "$K8S_STATE"

# The kubelet changes host state; record it so down.sh puts it back.
: >host-state
for key in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops; do
  echo "sysctl $key $(cat /proc/sys/$key)" >>host-state
done
for dir in /var/log/pods /var/log/containers /var/lib/dockershim /var/lib/kubelet; do
  [ -e "$dir" ] || echo "created $dir" >>host-state
done

if ! docker image inspect "$K8S_PAUSE_IMAGE" >/dev/null 2>&1; then
  ctx=$(mktemp -d); cp "$K8S_BIN/pause" "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$K8S_PAUSE_IMAGE" "$ctx" >/dev/null 2>&1
  rm -rf "$ctx"
fi

# --- certificates: one CA; every component authenticates with a client certificate ---------
pki="$K8S_STATE/pki"
openssl_quiet() { openssl "$@" >/dev/null 2>&1; }
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=flame-ts-test-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt"
cert() { # name subject [san]
  local name=$1 subject=$2 san=${3:-}
  openssl_quiet req -newkey rsa:2048 -nodes -subj "$subject" -keyout "$pki/$name.key" -out "$pki/$name.csr"
  local ext="$pki/$name.ext"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' >"$ext"
  [ -n "$san" ] && echo "subjectAltName=$san" >>"$ext"
  openssl_quiet x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -extfile "$ext" -out "$pki/$name.crt"
}
cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
cert admin "/O=system:masters/CN=flame-ts-admin"
cert controller-manager "/CN=system:kube-controller-manager"
cert scheduler "/CN=system:kube-scheduler"
cert kubelet "/O=system:nodes/CN=system:node:127.0.0.1" "IP:127.0.0.1,DNS:localhost"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
openssl_quiet genrsa -out "$pki/sa.key" 2048
openssl_quiet rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

kubeconfig() { # file user
  local file=$1 user=$2
  cat >"$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: flame-ts-test
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$pki/$user.crt")
    client-key-data: $(base64 -w0 "$pki/$user.key")
contexts:
- name: flame-ts-test
  context: { cluster: flame-ts-test, user: $user, namespace: default }
current-context: flame-ts-test
KC
  chmod 600 "$file"
}
kubeconfig "$K8S_STATE/controller-manager.kubeconfig" controller-manager
kubeconfig "$K8S_STATE/scheduler.kubeconfig" scheduler
kubeconfig "$K8S_STATE/kubelet.kubeconfig" kubelet
kubeconfig "$K8S_KUBECONFIG.tmp" admin

start() { # name command...
  local name=$1; shift
  # setsid: each component outlives this script in its own process group; down.sh kills by PID.
  setsid "$@" >"$K8S_STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$K8S_STATE/pids/$name"
}
wait_for() { # what seconds command...
  local what=$1 seconds=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "k8s: $what not ready within ${seconds}s; last log lines:" >&2
      tail -n 30 "$K8S_STATE"/logs/*.log >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

start etcd etcd --name flame-ts-test --data-dir "$K8S_STATE/etcd" \
  --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
  --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
  --initial-cluster flame-ts-test=http://127.0.0.1:23800 --listen-metrics-urls http://127.0.0.1:23810 \
  --log-level warn
wait_for etcd 30 curl -sf http://127.0.0.1:23790/health

start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:23790 --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
  --secure-port=6443 --insecure-port=0 --cert-dir="$pki" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction \
  --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$pki/sa.pub" \
  --service-account-signing-key-file="$pki/sa.key" --service-cluster-ip-range=10.0.0.0/24 \
  --endpoint-reconciler-type=none --allow-privileged=true \
  --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname
mv "$K8S_KUBECONFIG.tmp" "$K8S_KUBECONFIG"
wait_for kube-apiserver 60 kubectl get --raw /readyz

start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$K8S_STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$K8S_STATE/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$K8S_STATE/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --port=0 --leader-elect=false \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --use-service-account-credentials=true --cluster-signing-cert-file="$pki/ca.crt" \
  --cluster-signing-key-file="$pki/ca.key" --controllers='*,-nodeipam,-route,-service,-cloud-node-lifecycle'
start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$K8S_STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig="$K8S_STATE/scheduler.kubeconfig" \
  --authorization-kubeconfig="$K8S_STATE/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --port=0 --leader-elect=false

cat >"$K8S_STATE/kubelet.yaml" <<KL
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: "$pki/ca.crt" }
authorization: { mode: Webhook }
tlsCertFile: "$pki/kubelet.crt"
tlsPrivateKeyFile: "$pki/kubelet.key"
cgroupDriver: cgroupfs
makeIPTablesUtilChains: false
oomScoreAdj: 0
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Never evict on this shared machine's disk or memory figures.
evictionHard: { memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%" }
serializeImagePulls: false
KL
start kubelet env AWS_EC2_METADATA_DISABLED=true "$K8S_BIN/kubelet" \
  --config="$K8S_STATE/kubelet.yaml" --kubeconfig="$K8S_STATE/kubelet.kubeconfig" \
  --container-runtime=docker --docker-endpoint=unix:///var/run/docker.sock \
  --hostname-override=127.0.0.1 --pod-infra-container-image="$K8S_PAUSE_IMAGE" \
  --root-dir="$K8S_STATE/kubelet" --cert-dir="$K8S_STATE/kubelet/pki" --v=1

node_ready() {
  kubectl get node 127.0.0.1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -q True
}
wait_for "node 127.0.0.1 Ready" 90 node_ready
# A new namespace admits no pod until its default ServiceAccount exists: wait for default's.
wait_for "the default ServiceAccount" 30 kubectl -n default get serviceaccount default

# Loopback only: no component may hold a socket outside 127.0.0.0/8 (or ::1).
pids=$(cat "$K8S_STATE"/pids/* | tr '\n' '|'); pids=${pids%|}
outside=$(ss -tunapH 2>/dev/null | grep -E "pid=($pids)," \
  | awk '{print $5" "$6}' | grep -vE '^(127\.[0-9.]+|\[::1\]|\[::ffff:127\.[0-9.]+\]):[0-9*]+ (127\.[0-9.]+|\[::1\]|\[::ffff:127\.[0-9.]+\]|0\.0\.0\.0|\*|\[::\]):[0-9*]+$' || true)
if [ -n "$outside" ]; then
  echo "k8s: a component holds a socket outside loopback:" >&2; echo "$outside" >&2
  bash "$here/down.sh" >&2; exit 1
fi
k8s_log "cluster up in $(( ($(date +%s%N) - started) / 1000000 )) ms; KUBECONFIG=$K8S_KUBECONFIG"
