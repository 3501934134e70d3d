package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tandem-db/tandem/client"
)

// sqlCommand is `tandem sql`: run statements against a node and print the
// results the way psql does.
func sqlCommand() *cobra.Command {
	var (
		addr   string
		opts   sqlOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   `sql "SQL" ["SQL"...]`,
		Short: "Run SQL statements against a node and print the results",
		Long: `Run each argument as one statement against a node. Reads (statements that
start with SELECT, VALUES, EXPLAIN or WITH, and PRAGMA without '=') go to
/db/query at --level; everything else goes to /db/execute at --commit.
A failed statement prints "error: ..." and makes the command exit non-zero;
the other statements still run.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client.New(addr)
			if err != nil {
				return err
			}
			defer c.Close()
			out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			failed := 0
			for _, q := range args {
				res, err := runSQL(cmd.Context(), c, q, opts)
				if err != nil {
					return err
				}
				if asJSON {
					fmt.Fprintln(out, strings.TrimSpace(string(res.raw)))
				}
				for _, r := range res.results {
					switch {
					case r.Error != "":
						fmt.Fprintln(stderr, "error:", r.Error)
						failed++
					case asJSON:
					case res.read:
						formatTable(out, r.Columns, r.Values)
					default:
						fmt.Fprintln(out, formatWrite(r, res.lsn, res.gtid))
					}
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d statement(s) failed", failed)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", defaultAddr, "HTTP address of the node (host:port or URL)")
	f.StringVar(&opts.level, "level", "", "read level of queries (weak, none, strong; default: the server's)")
	f.StringVar(&opts.commit, "commit", "", "commit level of writes (local, off, remote_write, remote_flush, remote_apply; default: the server's)")
	f.BoolVar(&asJSON, "json", false, "print each response's raw JSON instead of a table")
	return cmd
}

type sqlOptions struct{ level, commit string }

// sqlResult is one statement's response, read or write.
type sqlResult struct {
	read      bool
	results   []client.Result
	lsn, gtid string
	raw       []byte
}

// runSQL sends q to /db/query when it only reads, else to /db/execute.
func runSQL(ctx context.Context, c *client.Client, q string, opts sqlOptions) (sqlResult, error) {
	if isReadOnly(q) {
		resp, err := c.Query(ctx, client.SQL(q), client.QueryOptions{Level: opts.level})
		if err != nil {
			return sqlResult{}, err
		}
		return sqlResult{read: true, results: resp.Results, raw: resp.Raw}, nil
	}
	resp, err := c.Execute(ctx, client.SQL(q), client.ExecOptions{Commit: opts.commit})
	if err != nil {
		return sqlResult{}, err
	}
	return sqlResult{results: resp.Results, lsn: resp.LSN, gtid: resp.GTID, raw: resp.Raw}, nil
}

// formatWrite describes a write's outcome in one line.
func formatWrite(r client.Result, lsn, gtid string) string {
	s := fmt.Sprintf("OK, %d row(s) affected, last insert id %d", r.RowsAffected, r.LastInsertID)
	if lsn != "" || gtid != "" {
		s += fmt.Sprintf(" (lsn %s, gtid %s)", orDash(lsn), orDash(gtid))
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// isReadOnly reports whether q can go to /db/query: it starts with SELECT,
// VALUES or EXPLAIN; or with PRAGMA and has no '='; or with WITH and its
// words outside strings and comments include no INSERT, UPDATE, DELETE or
// REPLACE (a CTE in front of a write).
func isReadOnly(q string) bool {
	words := sqlWords(q)
	if len(words) == 0 {
		return false
	}
	switch words[0] {
	case "SELECT", "VALUES", "EXPLAIN":
		return true
	case "PRAGMA":
		return !strings.Contains(q, "=")
	case "WITH":
		for _, w := range words {
			switch w {
			case "INSERT", "UPDATE", "DELETE", "REPLACE":
				return false
			}
		}
		return true
	}
	return false
}

// sqlWords returns the upper-cased bare words of q, skipping quoted
// strings and identifiers and comments.
func sqlWords(q string) []string {
	var words []string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"' || c == '`' || c == '[':
			end := byte(c)
			if c == '[' {
				end = ']'
			}
			j := strings.IndexByte(q[i+1:], end)
			if j < 0 {
				return words
			}
			i += j + 2
		case strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return words
			}
			i += j + 1
		case strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return words
			}
			i += j + 4
		case c == '_' || 'a' <= c|0x20 && c|0x20 <= 'z':
			j := i + 1
			for j < len(q) && (q[j] == '_' || 'a' <= q[j]|0x20 && q[j]|0x20 <= 'z' || '0' <= q[j] && q[j] <= '9') {
				j++
			}
			words = append(words, strings.ToUpper(q[i:j]))
			i = j
		default:
			i++
		}
	}
	return words
}

// formatTable prints rows as psql does: a header, a rule, the rows with
// numbers right-aligned, and a row count.
func formatTable(w io.Writer, columns []string, values [][]any) {
	cells := make([][]string, len(values))
	widths := make([]int, len(columns))
	for i, c := range columns {
		widths[i] = utf8.RuneCountInString(c)
	}
	for r, row := range values {
		cells[r] = make([]string, len(columns))
		for i := range columns {
			var v any
			if i < len(row) {
				v = row[i]
			}
			cells[r][i] = formatValue(v)
			widths[i] = max(widths[i], utf8.RuneCountInString(cells[r][i]))
		}
	}
	var b strings.Builder
	line := func(fields []string, right func(i int) bool) {
		for i, s := range fields {
			if i > 0 {
				b.WriteString(" |")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(s))
			b.WriteByte(' ')
			if right(i) {
				b.WriteString(pad + s)
			} else if i == len(fields)-1 {
				b.WriteString(s) // no trailing blanks
			} else {
				b.WriteString(s + pad)
			}
		}
		b.WriteByte('\n')
	}
	line(columns, func(int) bool { return false })
	for i, wd := range widths {
		if i > 0 {
			b.WriteByte('+')
		}
		b.WriteString(strings.Repeat("-", wd+2))
	}
	b.WriteByte('\n')
	for r, row := range cells {
		line(row, func(i int) bool { return isNumber(values[r], i) })
	}
	if len(values) == 1 {
		b.WriteString("(1 row)\n")
	} else {
		fmt.Fprintf(&b, "(%d rows)\n", len(values))
	}
	io.WriteString(w, b.String())
}

func isNumber(row []any, i int) bool {
	if i >= len(row) {
		return false
	}
	switch row[i].(type) {
	case int64, float64:
		return true
	}
	return false
}

// formatValue prints one value; NULL as NULL, and line breaks escaped so
// the table stays aligned.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}
