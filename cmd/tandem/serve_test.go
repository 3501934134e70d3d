package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-db/tandem/node"
)

// Flags override the config file, which overrides the defaults.
func TestLoadConfig_FlagsOverrideFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n1.yaml")
	yaml := `node-id: from-file
data-dir: /data/file
http-addr: 127.0.0.1:5000
format: mixed
sync-standbys: "ANY 1 (n2,n3)"
sync-timeout: 3s
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := serveCommand()
	if err := cmd.Flags().Parse([]string{"--config", path, "--node-id", "from-flag", "--format", "row"}); err != nil {
		t.Fatal(err)
	}
	var flags node.Config
	flags.NodeID, flags.Format = "from-flag", "row"
	cfg, err := loadConfig(path, cmd.Flags(), &flags)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "from-flag" || cfg.Format != "row" {
		t.Errorf("flags did not override the file: node id %q, format %q", cfg.NodeID, cfg.Format)
	}
	if cfg.DataDir != "/data/file" || cfg.HTTPAddr != "127.0.0.1:5000" || cfg.SyncStandbys != "ANY 1 (n2,n3)" || cfg.SyncTimeout != 3*time.Second {
		t.Errorf("file settings lost: %+v", cfg)
	}
	if want := node.DefaultConfig().MaxBatch; cfg.MaxBatch != want {
		t.Errorf("default lost: max batch %d, want %d", cfg.MaxBatch, want)
	}
}

func TestLoadConfig_Errors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("node-id: n1\ndata-dir: /d\nno-such-key: 1\n"), 0o644)
	cmd := serveCommand()
	var flags node.Config
	if _, err := loadConfig(bad, cmd.Flags(), &flags); err == nil || !strings.Contains(err.Error(), "no-such-key") {
		t.Errorf("unknown key: err = %v, want it named", err)
	}
	invalid := filepath.Join(dir, "invalid.yaml")
	os.WriteFile(invalid, []byte("node-id: n1\ndata-dir: /d\nsync-standbys: \"ANY 3 (n2)\"\n"), 0o644)
	if _, err := loadConfig(invalid, cmd.Flags(), &flags); err == nil || !strings.Contains(err.Error(), "sync standbys") {
		t.Errorf("invalid sync standbys: err = %v", err)
	}
	if _, err := loadConfig(filepath.Join(dir, "missing.yaml"), cmd.Flags(), &flags); err == nil {
		t.Error("missing file: no error")
	}
}

// Raft logs a duration under the key "time"; the logger must print it, not
// panic taking it for the record's timestamp.
func TestNewLogger_TimeAttrThatIsNotATime(t *testing.T) {
	l, err := newLogger("info")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("leader lease check", "time", 150*time.Millisecond)
	l.With("component", "raft").Warn("heartbeat", slog.Group("g", "time", 3))
}
