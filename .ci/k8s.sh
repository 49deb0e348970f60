#!/usr/bin/env bash
# Builds (first run on a machine: ~10-13 min on 2 cores) or reuses (cached outside the clone,
# keyed by recipe) the one-node Kubernetes cluster's binaries from Debian's `kubernetes` source
# package, then starts the cluster on 127.0.0.1 for the Kubernetes suites. Needs the Docker
# Engine that .ci/docker.sh starts (the kubelet runs pods on it). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true
bash scripts/k8s/build.sh
bash scripts/k8s/up.sh
