package httpapi

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
)

// handleStatus serves GET /status: the Store's status document.
func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := requestContext(r, p)
	defer cancel()
	st, err := s.store.Status(ctx)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	var b []byte
	if p.pretty {
		b, err = json.MarshalIndent(st, "", "    ")
	} else {
		b, err = json.Marshal(st)
	}
	if err != nil {
		s.log.Error("encode status", "err", err)
		writeError(w, http.StatusInternalServerError, "encode status: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// handleReadyz serves GET /readyz in rqlite's plain-text shape.
func (s *Service) handleReadyz(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := requestContext(r, p)
	defer cancel()
	w.Header()["Content-Type"] = textContentType
	if err := s.store.Ready(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "[-]node not ready: %v", err)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("[+]node ok"))
}

// handleBackup serves GET /db/backup: a consistent SQLite database file,
// streamed as the Store writes it, gzipped with ?compress.
func (s *Service) handleBackup(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch p.format {
	case "", "binary":
	case "sql":
		writeError(w, http.StatusBadRequest, "fmt=sql is not supported yet, use the binary backup (leave out fmt)")
		return
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("fmt=%q is not a backup format: leave out fmt for the binary backup", p.format))
		return
	}
	ctx, cancel := requestContext(r, p)
	defer cancel()

	bw := &backupWriter{w: w}
	var gz *gzip.Writer
	if p.compress {
		gz = gzip.NewWriter(bw)
		err = s.store.Backup(ctx, gz)
		if err == nil {
			err = gz.Close()
		}
	} else {
		err = s.store.Backup(ctx, bw)
	}
	switch {
	case err != nil && !bw.started:
		s.storeError(w, r, err)
	case err != nil:
		// The status line is gone; cut the connection so the client sees
		// a broken transfer, never a short file that looks complete.
		s.log.Warn("backup failed mid-stream", "err", err)
		panic(http.ErrAbortHandler)
	case !bw.started:
		bw.start()
	}
}

// backupWriter sends the 200 header on the first byte, so an error before
// any data can still get its own status.
type backupWriter struct {
	w       http.ResponseWriter
	started bool
}

func (b *backupWriter) start() {
	b.started = true
	b.w.Header().Set("Content-Type", "application/octet-stream")
	b.w.WriteHeader(http.StatusOK)
}

func (b *backupWriter) Write(p []byte) (int, error) {
	if !b.started {
		b.start()
	}
	return b.w.Write(p)
}
