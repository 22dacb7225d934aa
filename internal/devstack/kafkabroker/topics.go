package kafkabroker

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseTopics parses a topic list flag such as
// "predlog.predictions:8,predlog.outcomes:4" into name -> partitions. Spaces
// around entries are ignored and an empty string yields an empty map. Errors
// quote the entry at fault.
func ParseTopics(s string) (map[string]int, error) {
	topics := make(map[string]int)
	if strings.TrimSpace(s) == "" {
		return topics, nil
	}
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		name, count, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("topic %q: want name:partitions", entry)
		}
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("topic %q: empty name", entry)
		}
		n, err := strconv.Atoi(strings.TrimSpace(count))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("topic %q: partitions %q must be a positive integer", entry, count)
		}
		if _, dup := topics[name]; dup {
			return nil, fmt.Errorf("topic %q: %s listed twice", entry, name)
		}
		topics[name] = n
	}
	return topics, nil
}
