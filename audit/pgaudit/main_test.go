package pgaudit

import (
	"testing"

	"github.com/bulwark-agents/bulwark/internal/testfamily"
)

func TestMain(m *testing.M) { testfamily.Main(m, testfamily.Postgres) }
