package ingest

// InstallKafkaHooks makes the changes to kafka-go's process-wide tables
// that New makes (with the default decompression limit), for TestMain to
// make them before any test's Kafka client runs: parallel tests produce
// while others build pipelines.
func InstallKafkaHooks() {
	var c Config
	c.setDefaults()
	limitDecompression(c.MaxDecompressed)
	registerHeartbeat()
}
