package agent_test

import (
	"context"

	"github.com/bulwark-agents/bulwark/llm"
)

// costly adds a cost to every reply of a model, as providers that report
// cost do.
type costly struct {
	llm.Model
	cost float64
}

func (c costly) Stream(ctx context.Context, req llm.Request, onText func(string)) (*llm.Response, error) {
	resp, err := c.Model.Stream(ctx, req, onText)
	if resp != nil {
		resp.Usage.Cost = c.cost
	}
	return resp, err
}
