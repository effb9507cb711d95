package heapahead

import (
	"context"
	"testing"
)

// Run returns once its context has ended, wherever it runs.
func TestRunReturns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	Run(ctx)
}
