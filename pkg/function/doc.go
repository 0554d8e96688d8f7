// Package function is the runtime of a cdi-functions function: a small,
// stateless CloudEvents receiver. Main gives it an HTTP server on $PORT
// with the receiver at "/", probes at /healthz and /readyz, Prometheus
// metrics at /metrics, a zap logger in the context, Kubernetes clients and
// graceful shutdown on SIGTERM; the function itself is one Handler.
//
// A Handler's error decides the HTTP answer, which decides whether a
// Knative Broker (or the event source's sender) retries: Permanent errors
// answer 400 (never retried), everything else 500 (retried).
package function
