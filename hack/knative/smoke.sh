#!/usr/bin/env bash
# Smoke test of Knative Eventing on the local cluster (make knative-up first):
# in namespace knative-smoke, a Broker and Triggers to a plain Kubernetes
# Service running hack/knative/cmd/receiver, which records what reaches it.
# Events are sent from the host to the broker ingress (with a token of the
# ServiceAccount "sender" when OIDC is on). It checks that an event arrives,
# that a reply event gets back into the Broker, that a failing subscriber is
# retried and dead-lettered, and prints the headers and the token claims the
# subscriber sees (docs/knative.md). KEEP=1 leaves the namespace in place.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KO="${KO:-$(go env GOPATH)/bin/ko}"
NS=knative-smoke
TIMEOUT="${KNATIVE_TIMEOUT:-120s}"
knative_env

setup() {
  kctl create namespace "${NS}" --dry-run=client -o yaml | kctl apply -f - >/dev/null
  (cd "${KNATIVE_DIR}" && GOWORK=off GOFLAGS=-mod=readonly KO_CONFIG_PATH="${KNATIVE_DIR}/ko.yaml" \
    KO_DOCKER_REPO="${REGISTRY}/knative-smoke" "${KO}" apply --base-import-paths -f smoke/receiver.yaml >/dev/null)
  kctl apply -f "${KNATIVE_DIR}/smoke/broker.yaml" >/dev/null
  kctl -n "${NS}" rollout status deployment/receiver --timeout="${TIMEOUT}" >/dev/null
  kctl -n "${NS}" wait --for=condition=Ready broker/default --timeout="${TIMEOUT}" >/dev/null
  kctl -n "${NS}" wait --for=condition=Ready trigger --all --timeout="${TIMEOUT}" >/dev/null
}

step "setup (receiver, Broker, Triggers)" setup

# The broker's address, reached from the host through the ingress ClusterIP.
url=$(kctl -n "${NS}" get broker default -o jsonpath='{.status.address.url}')
aud=$(kctl -n "${NS}" get broker default -o jsonpath='{.status.address.audience}')
ingress_ip=$(kctl -n "${EVENTING_NS}" get service broker-ingress -o jsonpath='{.spec.clusterIP}')
host_url="http://${ingress_ip}/${url#http://*/}"
receiver_ip=$(kctl -n "${NS}" get pods -l app=receiver -o jsonpath='{.items[0].status.podIP}')
token=""
if [[ -n "${aud}" ]]; then
  token=$(kctl -n "${NS}" create token sender --audience "${aud}" --duration 10m)
fi
log "broker ${url} (audience '${aud:-none}'), receiver pod ${receiver_ip}"

# send TYPE [CURL ARGS...]: a binary-mode event with extensions and extra
# headers; prints the HTTP status.
send() {
  local type="$1"
  shift
  local auth=()
  [[ -n "${token}" ]] && auth=(-H "Authorization: Bearer ${token}")
  curl -sS -o /dev/null -w '%{http_code}' -X POST "${host_url}" \
    -H 'Ce-Specversion: 1.0' -H "Ce-Id: ${type}-$RANDOM" -H 'Ce-Source: smoke.sh' -H "Ce-Type: ${type}" \
    -H 'Ce-Authtoken: extension-token-value' -H 'Ce-Myextension: hello' -H 'X-Custom-Header: custom' \
    -H 'Content-Type: application/json' "${auth[@]}" "$@" -d '{"hello":"world"}'
}

# requests PATH: what the receiver recorded at PATH, as JSON.
requests() { curl -fsS "http://${receiver_ip}:8080/" | jq -c --arg p "$1" '[.[] | select(.path == $p)]'; }

# await PATH N: polls until the receiver recorded N requests at PATH.
await() {
  local deadline=$((SECONDS + ${TIMEOUT%s}))
  until (($(requests "$1" | jq length) >= $2)); do
    ((SECONDS < deadline)) || die "the receiver did not get $2 request(s) at $1"
    sleep 0.5
  done
}

code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "${host_url}" -H 'Ce-Specversion: 1.0' -H 'Ce-Id: x' \
  -H 'Ce-Source: smoke.sh' -H 'Ce-Type: smoke.plain' -d '{}')
log "send without a token: HTTP ${code}"
log "send smoke.plain (binary): HTTP $(send smoke.plain)"
await /plain 1
log "send smoke.plain (structured): HTTP $(curl -sS -o /dev/null -w '%{http_code}' -X POST "${host_url}" \
  -H 'Content-Type: application/cloudevents+json' ${token:+-H "Authorization: Bearer ${token}"} -H 'X-Custom-Header: custom' \
  -d '{"specversion":"1.0","id":"structured-1","source":"smoke.sh","type":"smoke.plain","authtoken":"extension-token-value","datacontenttype":"application/json","data":{"hello":"structured"}}')"
await /plain 2
log "send smoke.audience: HTTP $(send smoke.audience)"
await /audience 1
log "send smoke.reply-me: HTTP $(send smoke.reply-me)"
await /replies 1
log "send smoke.fail: HTTP $(send smoke.fail)"
await /dead-letter 1
log "send smoke.down: HTTP $(send smoke.down)"
await /dead-letter 2

echo
echo "== /plain (binary, then structured): headers and token claims at the subscriber"
requests /plain | jq '.[] | {headers, tokenClaims, body}'
echo "== /audience: token claims"
requests /audience | jq '.[] | {authorization: .headers.Authorization, tokenClaims}'
echo "== /replies: the reply event, back through the Broker"
requests /replies | jq '.[] | {type: .headers["Ce-Type"], id: .headers["Ce-Id"], source: .headers["Ce-Source"], body}'
echo "== /fail: the time of each attempt"
requests /fail | jq -r '.[].time'
echo "== /dead-letter: what the dead letter sink gets"
requests /dead-letter | jq '.[] | {type: .headers["Ce-Type"], headers: (.headers | with_entries(select(.key | test("^Ce-Knative|^Ce-"))))}'
if [[ "${KEEP:-}" != 1 ]]; then
  kctl delete namespace "${NS}" --wait --timeout="${TIMEOUT}" >/dev/null
fi
log "smoke test passed"
