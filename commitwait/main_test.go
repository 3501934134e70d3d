package commitwait

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/tandem-db/tandem/internal/golden"
	"go.uber.org/goleak"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden outputs in testdata")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runGolden checks testdata/name with the shared golden-file runner.
func runGolden(t *testing.T, name string, run func(t *testing.T, input []string) []string) {
	t.Helper()
	golden.Run(t, filepath.Join("testdata", name), *rewrite, run)
}
