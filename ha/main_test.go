package ha

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden outputs in testdata")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// goldenCase is one case of a golden file: its input lines (comments
// included) and the output recorded for it.
type goldenCase struct {
	input, output []string
	line          int // line number of its first input line
}

// runGolden checks a golden file in the style of etcd raft's datadriven
// tests (as commitwait does). Cases are separated by blank lines; each is
// input lines, a "----" line, then the output that run computes from the
// input lines (lines starting with '#' are comments and are not passed to
// run). With -rewrite the outputs are rewritten from run.
func runGolden(t *testing.T, name string, run func(t *testing.T, input []string) []string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := parseGolden(string(data))
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	var out strings.Builder
	for i := range cases {
		c := &cases[i]
		var in []string
		for _, l := range c.input {
			if !strings.HasPrefix(l, "#") {
				in = append(in, l)
			}
		}
		got := run(t, in)
		if *rewrite {
			c.output = got
		} else if g, w := strings.Join(got, "\n"), strings.Join(c.output, "\n"); g != w {
			t.Errorf("%s:%d: output changed (run with -rewrite if intended)\ninput:\n%s\ngot:\n%s\nwant:\n%s",
				path, c.line, strings.Join(in, "\n"), g, w)
		}
		if i > 0 {
			out.WriteString("\n")
		}
		for _, l := range c.input {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n")
		for _, l := range c.output {
			out.WriteString(l + "\n")
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func parseGolden(s string) []goldenCase {
	var cases []goldenCase
	var cur *goldenCase
	inOutput := false
	for n, l := range strings.Split(s, "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			cur, inOutput = nil, false
		case cur == nil:
			cases = append(cases, goldenCase{line: n + 1, input: []string{l}})
			cur = &cases[len(cases)-1]
		case l == "----" && !inOutput:
			inOutput = true
		case inOutput:
			cur.output = append(cur.output, l)
		default:
			cur.input = append(cur.input, l)
		}
	}
	return cases
}
