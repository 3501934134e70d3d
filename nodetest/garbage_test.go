package nodetest_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tandem-db/tandem/command"
	"github.com/tandem-db/tandem/node"
	"github.com/tandem-db/tandem/nodetest"
)

// A client that sends garbage to the replication port is dropped; the
// primary goes on serving writes and its replica.
func TestStream_GarbageClientDropped(t *testing.T) {
	c := nodetest.NewCluster(t, nodetest.Options{})
	n1 := c.Start(t, "n1", func(cfg *node.Config) { cfg.SyncStandbys = "ANY 1 (n2)" })
	c.Start(t, "n2", nodetest.ReplicaOf("n1"))
	c.ExecAt(t, "n1", command.CommitRemoteApply, "CREATE TABLE t(id INTEGER PRIMARY KEY)")

	garbage := [][]byte{
		bytes.Repeat([]byte{0xff}, 64),                                      // a length far over the limit
		append([]byte{0, 0, 0, 8, 2, 0}, bytes.Repeat([]byte{0xa5}, 12)...), // a Hello with a bad CRC
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	}
	for i, g := range garbage {
		conn, err := net.DialTimeout("tcp", n1.ReplAddr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(g); err != nil {
			t.Fatalf("garbage %d: write: %v", i, err)
		}
		// The server sent its Challenge; after the garbage it must close.
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.Copy(io.Discard, conn)
		conn.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("garbage %d: n1 kept the connection open for 5s", i)
		}
	}

	resp := c.ExecAt(t, "n1", command.CommitRemoteApply, "INSERT INTO t VALUES(1)")
	if got := c.QueryInt(t, "n2", "SELECT count(*) FROM t"); got != 1 {
		t.Fatalf("n2 has %d rows after remote_apply commit %s, want 1", got, resp.LSN)
	}
	st := c.Status(t, "n1")
	if !st.Node.Ready || st.Node.Error != "" {
		t.Fatalf("n1 status after garbage: ready=%v error=%q", st.Node.Ready, st.Node.Error)
	}
	for _, r := range st.Replication.Replicas {
		if r.Name == "n2" && r.State != "streaming" {
			t.Fatalf("n2's stream after garbage on another connection: %s", r.State)
		}
	}
}
