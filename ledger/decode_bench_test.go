package ledger_test

import (
	"bytes"
	"fmt"
	"testing"

	"compact/ledger"
	"compact/ledger/perf"
	"compact/schemas"
)

// BenchmarkDecode: the ingest path's CPU work without NATS: one typical event (the
// benchmark's training event), and a 16-event batch split and decoded as the Ingester does.
//
//	go test ./ledger -run '^$' -bench Decode -benchmem
func BenchmarkDecode(b *testing.B) {
	v := schemas.Default()
	p := ledger.Principal{Entity: "UNODC", Role: ledger.RolePublisher}
	b.Run("event", func(b *testing.B) {
		ev := perf.Event("UNODC", "bench-0000000001")
		if _, fe := ledger.Decode(ev, p, v); fe != nil {
			b.Fatal(fe)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(ev)))
		for b.Loop() {
			if _, fe := ledger.Decode(ev, p, v); fe != nil {
				b.Fatal(fe)
			}
		}
	})
	b.Run("batch-16", func(b *testing.B) {
		var batch bytes.Buffer
		batch.WriteByte('[')
		for i := range 16 {
			if i > 0 {
				batch.WriteByte(',')
			}
			batch.Write(perf.Event("UNODC", fmt.Sprintf("bench-%010d", i)))
		}
		batch.WriteByte(']')
		body := batch.Bytes()
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			raws, err := ledger.SplitBatch(body)
			if err != nil {
				b.Fatal(err)
			}
			for _, raw := range raws {
				if _, fe := ledger.Decode(raw, p, v); fe != nil {
					b.Fatal(fe)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(16*b.N), "ns/event")
	})
}
