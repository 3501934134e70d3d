package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/tandem-db/tandem/command"
)

// Store is what the HTTP API needs from a node.
type Store interface {
	// Execute runs statements as one client transaction on the write path.
	// Read statements among them come back with rows.
	Execute(ctx context.Context, req *command.ExecuteRequest) (*command.ExecuteResponse, error)
	// Query runs read-only statements.
	Query(ctx context.Context, req *command.QueryRequest) ([]command.Result, error)
	// Backup writes a consistent SQLite database file to w.
	Backup(ctx context.Context, w io.Writer) error
	// Status returns a JSON-marshalable status document.
	Status(ctx context.Context) (any, error)
	// Ready returns nil when the node can serve requests.
	Ready(ctx context.Context) error
}

// StatusCoder is implemented by Store errors that know their HTTP status,
// e.g. 503 from a replica asked to write, or 409 from a fenced primary.
type StatusCoder interface {
	HTTPStatus() int
}

// statusOf maps a Store error to an HTTP status: a deadline is 504, a
// StatusCoder says its own, anything else is 500.
func statusOf(err error) int {
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	var sc StatusCoder
	if errors.As(err, &sc) {
		if s := sc.HTTPStatus(); s >= 400 && s <= 599 {
			return s
		}
	}
	return http.StatusInternalServerError
}
