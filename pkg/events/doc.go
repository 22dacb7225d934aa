// Package events defines predlog's event contracts (prediction logs,
// outcomes, model metadata, training jobs, feature importance and feature
// baselines) and a fast, allocation-free JSON decoder and validator for them.
//
// The JSON contracts are published as JSON Schema in schemas/ and explained in
// docs/events.md; the ClickHouse tables they land in are in
// clickhouse/migrations. Rejections are *ValidationError values whose Code is
// a stable string used for DLQ headers and metric labels.
//
// Typical use, one Decoder and one destination per worker:
//
//	d := events.NewDecoder(events.Options{KnownModel: registry.Has})
//	var p events.PredictionLog
//	if err := d.DecodePrediction(&p, msg); err != nil { ... events.CodeOf(err) ... }
//	// copy p's strings before the next DecodePrediction call
//
// Package eventstest generates realistic messages for tests and load tests.
package events
