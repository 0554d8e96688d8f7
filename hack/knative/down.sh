#!/usr/bin/env bash
# Removes Knative Eventing from the local cluster completely: first every
# Knative object in every namespace (while the controllers still run, so
# that their finalizers are honoured), then the admission webhooks, then
# everything the eventing configs define (namespace, CRDs, cluster roles and
# bindings), and checks that nothing with Knative's name is left. The cluster
# and the built images stay. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TIMEOUT="${KNATIVE_TIMEOUT:-180s}"
knative_env

knative_crds() { kctl get crd -o name | grep -E '\.knative\.dev$' || true; }

# delete_instances: every object of every Knative kind, cluster-wide.
delete_instances() {
  local crd kind
  for crd in $(knative_crds); do
    kind=${crd#*/}
    kctl delete "${kind}" --all -A --ignore-not-found --wait --timeout="${TIMEOUT}" >/dev/null
  done
}

# delete_webhooks: the admission webhooks whose service is in knative-eventing
# (so that no later delete waits on a webhook that is going away).
delete_webhooks() {
  local kind name
  for kind in validatingwebhookconfigurations mutatingwebhookconfigurations; do
    for name in $(kctl get "${kind}" -o jsonpath='{range .items[*]}{.metadata.name} {.webhooks[*].clientConfig.service.namespace}{"\n"}{end}' |
      awk -v ns="${EVENTING_NS}" '$2 == ns {print $1}'); do
      kctl delete "${kind}" "${name}" --ignore-not-found >/dev/null
    done
  done
}

# delete_configs: what the eventing configs define (kubectl delete needs only
# kinds and names, so the unresolved files of the module cache do).
delete_configs() {
  local dir args=() c
  dir=$(eventing_dir)
  for c in "${EVENTING_CONFIGS[@]}"; do args+=(-f "${dir}/${c}"); done
  kctl delete --ignore-not-found --wait --timeout="${TIMEOUT}" -R "${args[@]}" >/dev/null
  kctl wait --for=delete "namespace/${EVENTING_NS}" --timeout="${TIMEOUT}" >/dev/null 2>&1 || true
}

# check_clean: no Knative CRD, namespace, webhook, cluster role or binding,
# and no namespaced object of the eventing labels anywhere.
check_clean() {
  local left
  left=$(
    knative_crds
    kctl get namespace "${EVENTING_NS}" -o name --ignore-not-found
    kctl get validatingwebhookconfigurations,mutatingwebhookconfigurations,clusterroles,clusterrolebindings,apiservices -o name |
      grep -iE 'knative|eventing' || true
    kctl get all,configmaps,secrets,serviceaccounts,roles,rolebindings -A -l app.kubernetes.io/name=knative-eventing -o name
  )
  [[ -z "${left}" ]] || die "left on the cluster:"$'\n'"${left}"
}

step "delete Knative objects" delete_instances
step "delete webhooks" delete_webhooks
step "delete eventing configs" delete_configs
step "check clean" check_clean
log "Knative Eventing removed"
