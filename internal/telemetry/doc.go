// Package telemetry holds what both daemons expose about themselves: the zap
// logger built from config.Log, and the ops HTTP server with /metrics,
// /healthz and /readyz.
package telemetry
