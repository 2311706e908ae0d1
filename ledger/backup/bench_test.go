package backup_test

import (
	"bytes"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger/backup"
)

var benchEvents = flag.Int("backup.events", 20000, "BenchmarkBackup: events in the ledger backed up")

// BenchmarkBackup measures the backup of a ledger of -backup.events events (a checkpoint every
// 1,000) and its restore: the time of each, the file's size and bytes an event, and how much
// larger the streams are than the file.
//
//	go test ./ledger/backup -run '^$' -bench Backup -benchtime 1x -backup.events 100000
func BenchmarkBackup(b *testing.B) {
	n := *benchEvents
	l := newLedger(b, 0)
	var futures []jetstream.PubAckFuture
	for i := range n {
		subj, body := l.event(i)
		f, err := l.js.PublishAsync(subj, body)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
		if (i+1)%1000 == 0 || i == n-1 {
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					b.Fatal(err)
				}
			}
			futures = futures[:0]
			if _, err := l.ck.Flush(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	}
	nc := connect(b, l.srv)
	for b.Loop() {
		var file bytes.Buffer
		start := time.Now()
		m, err := backup.Write(b.Context(), backup.Source{Conn: nc, DataDir: l.dir}, &file)
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		to := filepath.Join(b.TempDir(), "restored")
		start = time.Now()
		if _, err := backup.Restore(b.Context(), bytes.NewReader(file.Bytes()), backup.RestoreConfig{DataDir: to}); err != nil {
			b.Fatal(err)
		}
		restored := time.Since(start)
		var streams uint64
		for _, s := range m.Streams {
			streams += s.Bytes
		}
		b.ReportMetric(took.Seconds()*1000, "backup-ms")
		b.ReportMetric(restored.Seconds()*1000, "restore-ms")
		b.ReportMetric(float64(file.Len())/1e6, "file-MB")
		b.ReportMetric(float64(file.Len())/float64(n), "file-B/event")
		b.ReportMetric(float64(streams)/float64(file.Len()), "streams/file")
	}
}
