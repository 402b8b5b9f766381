package delivery

import (
	"testing"
	"time"
)

func TestBackoffDoublesUpToTheCeiling(t *testing.T) {
	base, ceiling := 5*time.Second, time.Minute
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := Backoff(i+1, base, ceiling); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}
