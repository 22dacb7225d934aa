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

// SetFetchHooks sets the fetchers' test hooks (Pipeline.hooks); before Run.
func (p *Pipeline) SetFetchHooks(added, handingOver func(offset int64)) {
	p.hooks.added, p.hooks.handingOver = added, handingOver
}

// SignalPastEnd has the fetcher of topic/partition check whether it reads
// past the end of its log, as the lag reporter does when it finds it
// there; false when the partition is not being consumed.
func (p *Pipeline) SignalPastEnd(topic string, partition int) bool {
	p.mu.Lock()
	s := p.parts[tp{topic, partition}]
	p.mu.Unlock()
	if s == nil || s.pastEnd == nil {
		return false
	}
	s.pastEnd()
	return true
}
