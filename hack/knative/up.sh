#!/usr/bin/env bash
# Installs Knative Eventing v0.50.0 on the running local cluster: eventing
# core (CRDs, controller, webhook, job sink, request-reply, PingSource
# adapter), the in-memory channel and the multi-tenant channel-based Broker,
# from the knative.dev/eventing module's own config/ directories. Every image
# is built offline by ko from the module source (this directory's helper
# module) FROM the cluster's local base image and pushed to the loopback
# registry. The resolved manifests are cached under $CDI_KNATIVE_CACHE, keyed
# by the helper module, these scripts and the base image: a run whose images
# are still in the registry builds nothing. Then it enables OIDC sender
# authentication and waits until everything is ready. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KO="${KO:-$(go env GOPATH)/bin/ko}"
[[ -x "${KO}" ]] || die "ko not found at ${KO}: make ko-install"
TIMEOUT="${KNATIVE_TIMEOUT:-300s}"

knative_env

# registry_has REF: true when the loopback registry holds REF (repo@sha256:...).
registry_has() {
  local ref="${1#"${REGISTRY}"/}"
  curl -fsS -o /dev/null -I -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' \
    "http://${REGISTRY}/v2/${ref%@*}/manifests/${ref#*@}"
}

# images_present FILE: true when every image FILE names is in the registry.
images_present() {
  local ref
  for ref in $(grep -oE "${REGISTRY}/[^\" ]+@sha256:[0-9a-f]{64}" "$1" | sort -u); do
    registry_has "${ref}" || return 1
  done
}

# resolve OUT: ko resolve of the eventing configs into OUT (via a temporary
# file, so that a failed build leaves no cache entry).
resolve() {
  local out="$1" dir args=() c
  dir=$(eventing_dir)
  [[ -d "${dir}/config/core" ]] || die "knative.dev/eventing ${EVENTING_VERSION} not in the module cache"
  for c in "${EVENTING_CONFIGS[@]}"; do args+=(-f "${dir}/${c}"); done
  if [[ -f "${out}" ]] && images_present "${out}"; then
    log "cached: ${out}"
    touch "${out}"
    return 0
  fi
  log "ko resolve ${EVENTING_CONFIGS[*]} (knative.dev/eventing ${EVENTING_VERSION}) -> ${KNATIVE_REPO}"
  # Our ko.yaml, not eventing's .ko.yaml (remote bases): the base is
  # KO_DEFAULTBASEIMAGE from hack/ko-env.sh.
  (cd "${KNATIVE_DIR}" && GOWORK=off GOFLAGS=-mod=readonly KO_CONFIG_PATH="${KNATIVE_DIR}/ko.yaml" \
    KO_DOCKER_REPO="${KNATIVE_REPO}" "${KO}" resolve --base-import-paths -R "${args[@]}" >"${out}.tmp.$$")
  mv "${out}.tmp.$$" "${out}"
}

# apply FILE: server-side apply (the CRDs are too large for the
# last-applied annotation of a client-side apply).
apply() {
  kctl apply --server-side --force-conflicts --field-manager=cdi-knative-up -f "$1" >/dev/null
}

# features: OIDC sender authentication (docs/knative.md). Nothing else is
# needed: the components that verify tokens read the issuer's discovery
# document from the API server with their own ServiceAccount, which
# Kubernetes' default binding system:service-account-issuer-discovery allows.
features() {
  kctl -n "${EVENTING_NS}" patch configmap config-features --type merge \
    -p '{"data":{"authentication-oidc":"enabled"}}' >/dev/null
}

wait_ready() {
  kctl wait --for=condition=Established --timeout="${TIMEOUT}" \
    $(kctl get crd -l knative.dev/crd-install=true -o name) >/dev/null
  kctl -n "${EVENTING_NS}" rollout status deployment --timeout="${TIMEOUT}" >/dev/null
  kctl -n "${EVENTING_NS}" wait --for=condition=Available deployment --all --timeout="${TIMEOUT}" >/dev/null
  # The webhook serves once it answers a dry-run Broker create (defaulting
  # and validation run): poll with a deadline.
  local deadline=$((SECONDS + ${TIMEOUT%s}))
  until kctl create --dry-run=server -f - >/dev/null 2>&1 <<'YAML'; do
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: ready-check, namespace: default}
YAML
    ((SECONDS < deadline)) || die "the eventing webhook does not answer (kubectl -n ${EVENTING_NS} logs deploy/eventing-webhook)"
    sleep 1
  done
}

mkdir -p "${KNATIVE_CACHE}"
exec 9>"${KNATIVE_CACHE}/.lock"
flock 9
key=$(knative_key)
resolved="${KNATIVE_CACHE}/eventing-${EVENTING_VERSION}-${key}.yaml"
step "build images (ko resolve)" resolve "${resolved}"
step "apply" apply "${resolved}"
step "features (OIDC)" features
step "ready" wait_ready
find "${KNATIVE_CACHE}" -maxdepth 1 -name 'eventing-*.yaml' -printf '%T@ %p\n' | sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -f
log "Knative Eventing ${EVENTING_VERSION} is ready in ${EVENTING_NS}"
