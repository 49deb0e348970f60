#!/usr/bin/env bash
# Builds the one-node test cluster's binaries from Debian's `kubernetes` source package
# (no registry ships a Kubernetes server) and caches them outside the clone, keyed by recipe:
# a later run on the same machine reuses them in a second. Cold: ~10 min on 2 cores, 3.7 GB.
#
# Why each step (measured, see issue 20):
# - Go 1.19 from Debian, unpacked with dpkg -x: the system's toolchain stays untouched.
# - vendored modern-go/reflect2 1.0.1 panics on Go >= 1.18: replaced by Debian's 1.0.2.
# - root here lacks CAP_SYS_RESOURCE, so the negative oom_score_adj dockershim and the kubelet
#   set makes runc fail every pod: both constants become 0.
# - kubectl is Debian's kubernetes-client (the machine's /usr/bin/kubectl is another vendor's).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$here/common.sh"

have_all() { for b in "${K8S_BINARIES[@]}"; do [ -x "$K8S_BIN/$b" ] || return 1; done; }
if have_all; then k8s_log "binaries cached in $K8S_BIN"; exit 0; fi

work="$K8S_CACHE/work-$K8S_RECIPE"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
started=$(date +%s)

if ! command -v rsync >/dev/null || ! command -v dpkg-source >/dev/null || ! command -v gcc >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync dpkg-dev gcc libc6-dev >/dev/null
fi

# The machine's apt sources have no deb-src: a private apt configuration adds them without
# changing the system's.
apt_dir="$work/apt"; mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources"
for suite in "bookworm bookworm-updates|http://deb.debian.org/debian" "bookworm-security|http://deb.debian.org/debian-security"; do
  printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' \
    "${suite#*|}" "${suite%|*}" >>"$apt_dir/sources/src.sources"
done
apt_private=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/sources" -o "Dir::State::Lists=$apt_dir/lists")
k8s_log "fetching the kubernetes $K8S_DEB_VERSION source package"
apt-get "${apt_private[@]}" update -qq
apt-get "${apt_private[@]}" source --download-only "kubernetes=$K8S_DEB_VERSION" >/dev/null 2>&1
dpkg-source -x --no-check kubernetes_*.dsc src >/dev/null

k8s_log "fetching Go 1.19, reflect2 1.0.2 and kubectl from Debian"
apt-get update -qq
apt-get download golang-1.19-go golang-1.19-src golang-github-modern-go-reflect2-dev "kubernetes-client=$K8S_DEB_VERSION" >/dev/null 2>&1
for deb in golang-1.19-go_*.deb golang-1.19-src_*.deb golang-github-modern-go-reflect2-dev_*.deb kubernetes-client_*.deb; do
  dpkg -x "$deb" "$work/root"
done
export GOROOT="$work/root/usr/lib/go-1.19"
export PATH="$GOROOT/bin:$PATH"
go version

cd src
rm -rf vendor/github.com/modern-go/reflect2
cp -r "$work/root/usr/share/gocode/src/github.com/modern-go/reflect2" vendor/github.com/modern-go/reflect2
sed -i -E 's/(defaultSandboxOOMAdj int = )-998/\10/' pkg/kubelet/dockershim/docker_sandbox.go
sed -i -E 's/(guaranteedOOMScoreAdj int = )-997/\10/' pkg/kubelet/qos/policy.go
grep -q 'defaultSandboxOOMAdj int = 0' pkg/kubelet/dockershim/docker_sandbox.go
grep -q 'guaranteedOOMScoreAdj int = 0' pkg/kubelet/qos/policy.go

k8s_log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubelet (cold: ~10 min)"
export GOPATH="$work/gopath" GOCACHE="$K8S_CACHE/go-build-cache" GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0 HOME="$work"
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet"

mkdir -p "$K8S_BIN.tmp"
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet; do cp "_output/bin/$b" "$K8S_BIN.tmp/$b"; done
cp "$work/root/usr/bin/kubectl" "$K8S_BIN.tmp/kubectl"
# pause: the pod sandbox's process, built static from the same source tree.
gcc -static -O2 -DVERSION=3.2-flame -o "$K8S_BIN.tmp/pause" build/pause/linux/pause.c
rm -rf "$K8S_BIN"; mv "$K8S_BIN.tmp" "$K8S_BIN"
cd /; rm -rf "$work"
k8s_log "built in $(( $(date +%s) - started ))s into $K8S_BIN"
