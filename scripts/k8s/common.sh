# Shared settings of the one-node test cluster scripts (sourced, not run).
# Everything lives outside the clone: binaries are cached per recipe, state per run.
K8S_DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
# Bump the recipe revision whenever build.sh changes what it produces: the cache key follows it.
K8S_RECIPE="1.20.2-deb12u1-r1"
K8S_CACHE="${FLAME_K8S_CACHE:-/var/cache/flame-ts/k8s}"
K8S_BIN="$K8S_CACHE/$K8S_RECIPE/bin"
K8S_STATE="${FLAME_K8S_STATE:-/tmp/flame-ts-k8s}"
K8S_KUBECONFIG="$K8S_STATE/admin.kubeconfig"
K8S_PAUSE_IMAGE="flame-ts/pause:3.2"
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
k8s_log() { echo "k8s: $*"; }
