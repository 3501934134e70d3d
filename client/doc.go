// Package client is a small Go client for Tandem's HTTP API, which has the
// shapes of rqlite's: POST /db/execute for writes, GET or POST /db/query for
// reads, POST /db/request for a mix, GET /status and GET /readyz.
//
// A Client is safe for concurrent use and keeps connections alive, with an
// idle pool sized for many concurrent callers (see WithMaxConns), so one
// Client can drive a whole benchmark.
//
// Errors come in two kinds. A request the server refuses (a non-2xx status)
// or cannot be sent is a Go error; a non-2xx status is an *HTTPError holding
// the status and the server's error text. A statement that fails inside an
// accepted request is not a Go error: its Result has Error set, the other
// statements' results are still there, and the response's Err method returns
// the first such failure as a *StatementError.
//
// Values in query results are decoded as Go values of SQLite's storage
// classes: nil, int64 (a JSON number without a fraction or exponent that
// fits), float64 (any other number), string and, for JSON that is neither,
// bool, []any or map[string]any. BLOBs arrive as whatever the server sends
// for them, base64 text in rqlite's case.
package client
