#!/usr/bin/env bash
# Tears the test cluster down by PID and puts back what the kubelet changed on the host
# (sysctls, kubepods cgroups, mounts under its root dir, the log folders it created).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$here/common.sh"
[ -d "$K8S_STATE" ] || { k8s_log "no cluster state in $K8S_STATE"; exit 0; }

for name in kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do
  pidfile="$K8S_STATE/pids/$name"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  # A pid file may outlive its process (a reboot, a killed session): never kill a pid that now
  # belongs to something else.
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$name"; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done

# Containers the kubelet started through dockershim (runner pods, their pause sandboxes).
if docker info >/dev/null 2>&1; then
  ids=$(docker ps -aq --filter label=io.kubernetes.pod.name)
  [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
fi

# Mounts under the kubelet's root dir (secrets, service-account tokens), deepest first.
if [ -d "$K8S_STATE/kubelet" ]; then
  awk -v root="$K8S_STATE/kubelet" '$2 ~ "^"root {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
fi
# kubepods cgroups, children before parents, in every v1 hierarchy (or the v2 tree).
for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/kubepods.slice; do
  [ -d "$root" ] && find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
done

if [ -f "$K8S_STATE/host-state" ]; then
  while read -r kind a b; do
    case "$kind" in
      sysctl) echo "$b" >"/proc/sys/$a" 2>/dev/null || true ;;
      created) rm -rf "$a" ;;
    esac
  done <"$K8S_STATE/host-state"
fi
rm -rf "$K8S_STATE"
k8s_log "cluster down"
