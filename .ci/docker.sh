#!/usr/bin/env bash
# Installs (if missing) and starts the Docker Engine the Docker suites need, then builds the
# local test image. Idempotent: safe to run twice; a daemon that already answers is kept.
#
# The daemon runs with no default bridge and no iptables: DockerBackend's runners sit on the
# bridge network the backend creates (flame-ts-<app>), which needs neither, and talk only to
# the host's address on it; nothing is ever pulled (the test image is built FROM scratch by
# scripts/docker/).
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/flame-ts-dockerd.log}"
SOCKET="/var/run/docker.sock"
WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker.sh: dockerd missing, installing docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if docker info >/dev/null 2>&1; then
  echo "docker.sh: daemon already answering on $SOCKET"
else
  echo "docker.sh: starting dockerd (log: $DOCKERD_LOG)"
  # setsid: the daemon must outlive this script and not share its process group.
  setsid dockerd --bridge=none --iptables=false --ip-masq=false >"$DOCKERD_LOG" 2>&1 </dev/null &
  deadline=$(( $(date +%s) + WAIT_SECONDS ))
  until [ -S "$SOCKET" ] && docker info >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "docker.sh: dockerd did not answer on $SOCKET within ${WAIT_SECONDS}s; last log lines:" >&2
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  echo "docker.sh: daemon up"
fi

docker version --format 'docker.sh: engine {{.Server.Version}}'
# The same variables the Docker suites read (test/docker-env.ts): on a shared daemon each
# engineer or job builds and runs its own tags.
node scripts/docker/build-test-image.mjs \
  --tag "${FLAME_DOCKER_TEST_IMAGE:-flame-ts/runner-test:local}" \
  --base-tag "${FLAME_DOCKER_TEST_BASE_IMAGE:-flame-ts/node-base:local}"
