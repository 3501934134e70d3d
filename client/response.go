package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Result is the outcome of one statement, mirroring one element of the
// "results" array. A write fills LastInsertID and RowsAffected; a read fills
// Columns, Types and Values. Error is set when the statement failed.
type Result struct {
	Columns      []string `json:"columns,omitempty"`
	Types        []string `json:"types,omitempty"`
	Values       [][]any  `json:"values,omitempty"`
	LastInsertID int64    `json:"last_insert_id,omitempty"`
	RowsAffected int64    `json:"rows_affected,omitempty"`
	Error        string   `json:"error,omitempty"`
	// Time is the statement's run time in seconds, when the server sends it.
	Time float64 `json:"time,omitempty"`
}

// ExecuteResponse is the body of a /db/execute response.
type ExecuteResponse struct {
	Results []Result `json:"results"`
	// LSN is the commit LSN, printed as "HIGH/LOW" hexadecimal; it is a
	// read-your-writes token. Empty when nothing was written.
	LSN string `json:"lsn,omitempty"`
	// GTID names the transaction ("origin-uuid:seq"); empty when nothing
	// was written.
	GTID string `json:"gtid,omitempty"`
	// Warning says the commit is weaker than asked for, e.g. committed
	// while synchronous replication was degraded.
	Warning string  `json:"warning,omitempty"`
	Time    float64 `json:"time,omitempty"`
	// Raw is the response body as the server sent it.
	Raw json.RawMessage `json:"-"`
}

// QueryResponse is the body of a /db/query response.
type QueryResponse struct {
	Results []Result        `json:"results"`
	Time    float64         `json:"time,omitempty"`
	Raw     json.RawMessage `json:"-"`
}

// RequestResponse is the body of a /db/request response: reads fill rows,
// writes fill counts, and LSN and GTID are set when something was written.
type RequestResponse struct {
	Results []Result        `json:"results"`
	LSN     string          `json:"lsn,omitempty"`
	GTID    string          `json:"gtid,omitempty"`
	Time    float64         `json:"time,omitempty"`
	Raw     json.RawMessage `json:"-"`
}

// StatementError is a statement that failed inside an accepted request.
type StatementError struct {
	// Index is the statement's position in the request, from 0.
	Index   int
	Message string
}

// Error returns the server's message and the statement's position.
func (e *StatementError) Error() string {
	return fmt.Sprintf("statement %d: %s", e.Index+1, e.Message)
}

// firstError returns the first failed result as a *StatementError, or nil.
func firstError(rs []Result) error {
	for i, r := range rs {
		if r.Error != "" {
			return &StatementError{Index: i, Message: r.Error}
		}
	}
	return nil
}

// Err returns the first statement error as a *StatementError, or nil when
// every statement succeeded.
func (r *ExecuteResponse) Err() error { return firstError(r.Results) }

// Err returns the first statement error as a *StatementError, or nil.
func (r *QueryResponse) Err() error { return firstError(r.Results) }

// Err returns the first statement error as a *StatementError, or nil.
func (r *RequestResponse) Err() error { return firstError(r.Results) }

// decode unmarshals body into v, keeping numbers exact, then turns the
// numbers in every result's Values into int64 or float64.
func decode(body []byte, v any, results func() []Result) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	for _, r := range results() {
		for _, row := range r.Values {
			for i, x := range row {
				row[i] = normalize(x)
			}
		}
	}
	return nil
}

// normalize converts json.Number (also inside arrays and objects) into
// int64 when it is an integer that fits, and float64 otherwise.
func normalize(x any) any {
	switch v := x.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		f, err := v.Float64()
		if err != nil {
			return math.NaN()
		}
		return f
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normalize(v[k])
		}
	}
	return x
}
