package main

import (
	"context"
	"testing"
	"time"
)

// TestMakeRunShowsEverySampleReady runs what `make run` runs, end to end: a real control
// plane, the b24sim binary, the operator binary, and every sample of config/samples, each of
// which must become Ready.
func TestMakeRunShowsEverySampleReady(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of make run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, t.TempDir(), t.TempDir(), 3*time.Minute, true); err != nil {
		t.Fatal(err)
	}
}
