// Package configs holds no code: it is the home of the example daemon
// configs, the Prometheus scrape config and alert rules, and the Grafana
// provisioning and dashboards of the laptop stack (docker-compose.yml).
//
// Its tests check those files against the code: every metric a dashboard
// or alert rule queries is one the daemons register (with the labels it
// groups by), every ClickHouse table a dashboard reads is created by
// clickhouse/migrations, and every dashboard query runs on the devstack
// against the migrated schema; promtool (make test fetches it) fires the alert
// rules on sample series (alerts_test.yml).
package configs
