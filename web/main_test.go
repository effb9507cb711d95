package web_test

import (
	"testing"

	"github.com/bulwark-agents/bulwark/internal/testfamily"
)

// TestMain says once, in one line, when the browser tests skip and how
// to run them.
func TestMain(m *testing.M) { testfamily.Main(m, testfamily.Browser) }
