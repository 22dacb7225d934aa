package procstat

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    float64
		wantErr bool
	}{
		{"plain", "42 (devstack) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100", 3.25, false},
		{"spaces and parens in the name", "7 (a) b (c) S 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1", 0.03, false},
		{"no name", "7 S 1", 0, true},
		{"short", "7 (x) S 1 2 3", 0, true},
		{"not a number", "7 (x) S 1 7 7 0 -1 0 0 0 0 0 x 2 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.give))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadSelf(t *testing.T) {
	st, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PeakRSS <= 0 {
		t.Errorf("PeakRSS = %d, want > 0", st.PeakRSS)
	}
	if _, err := Read(-1); err == nil {
		t.Error("Read(-1): no error")
	}
}
