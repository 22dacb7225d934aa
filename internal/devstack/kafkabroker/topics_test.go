package kafkabroker

import (
	"maps"
	"testing"
)

func TestParseTopics(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    map[string]int
		wantErr string
	}{
		{name: "empty", give: "", want: map[string]int{}},
		{name: "blank", give: "  ", want: map[string]int{}},
		{name: "one", give: "predlog.predictions:8", want: map[string]int{"predlog.predictions": 8}},
		{
			name: "two with spaces",
			give: "predlog.predictions:8, predlog.outcomes : 4",
			want: map[string]int{"predlog.predictions": 8, "predlog.outcomes": 4},
		},
		{name: "no colon", give: "a:1,predlog.outcomes", wantErr: `topic "predlog.outcomes": want name:partitions`},
		{name: "empty name", give: ":3", wantErr: `topic ":3": empty name`},
		{name: "not a number", give: "a:x", wantErr: `topic "a:x": partitions "x" must be a positive integer`},
		{name: "zero", give: "a:0", wantErr: `topic "a:0": partitions "0" must be a positive integer`},
		{name: "negative", give: "a:-2", wantErr: `topic "a:-2": partitions "-2" must be a positive integer`},
		{name: "trailing comma", give: "a:1,", wantErr: `topic "": want name:partitions`},
		{name: "duplicate", give: "a:1,a:2", wantErr: `topic "a:2": a listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTopics(tt.give)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseTopics(%q) error = %v, want %q", tt.give, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTopics(%q): %v", tt.give, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("ParseTopics(%q) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}
