package netchan_test

import (
	"testing"
	"time"

	netchan "netchan.dev/netchan/bindings/go"
	"netchan.dev/netchan/bindings/go/internal/testpb"
)

// benchmarkBytes sends b.N values of size bytes from an exporter's Go channel to an importer's
// over TCP loopback and waits until every value is acknowledged. goBuffer is the capacity of
// both Go channels.
func benchmarkBytes(b *testing.B, size, goBuffer int) {
	exp, imp := newPair(b)
	defer exp.Close()
	defer imp.Close()
	out := make(chan []byte, goBuffer)
	if err := exp.Export("bench", out, netchan.Send); err != nil {
		b.Fatalf("Export: %v", err)
	}
	in := make(chan []byte, goBuffer)
	if err := imp.Import("bench", in, netchan.Recv, 0); err != nil {
		b.Fatalf("Import: %v", err)
	}
	value := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()

	go func() {
		for i := 0; i < b.N; i++ {
			out <- value
		}
		close(out)
	}()
	received := 0
	for v := range in {
		if len(v) != size {
			b.Fatalf("received %d bytes, want %d", len(v), size)
		}
		received++
	}
	if err := exp.Drain(stepTimeout); err != nil {
		b.Fatalf("Drain: %v", err)
	}
	b.StopTimer()
	if received != b.N {
		b.Fatalf("received %d values, want %d", received, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "values/s")
}

func BenchmarkBytes64(b *testing.B)           { benchmarkBytes(b, 64, 0) }
func BenchmarkBytes64Buffered(b *testing.B)   { benchmarkBytes(b, 64, 256) }
func BenchmarkBytes1024(b *testing.B)         { benchmarkBytes(b, 1024, 0) }
func BenchmarkBytes1024Buffered(b *testing.B) { benchmarkBytes(b, 1024, 256) }

// BenchmarkPoint sends small protobuf messages, packed and unpacked by the Go runtime.
func BenchmarkPoint(b *testing.B) {
	exp, imp := newPair(b)
	defer exp.Close()
	defer imp.Close()
	out := make(chan *testpb.Point)
	if err := exp.Export("bench", out, netchan.Send); err != nil {
		b.Fatalf("Export: %v", err)
	}
	in := make(chan *testpb.Point)
	if err := imp.Import("bench", in, netchan.Recv, 0); err != nil {
		b.Fatalf("Import: %v", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()

	go func() {
		for i := 0; i < b.N; i++ {
			out <- &testpb.Point{X: int32(i), Y: 2, Label: "benchmark"}
		}
		close(out)
	}()
	received := 0
	for v := range in {
		if v.X != int32(received) {
			b.Fatalf("value %d has X=%d", received, v.X)
		}
		received++
	}
	if err := exp.Drain(stepTimeout); err != nil {
		b.Fatalf("Drain: %v", err)
	}
	b.StopTimer()
	if received != b.N {
		b.Fatalf("received %d values, want %d", received, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "values/s")
}

func newPair(b *testing.B) (*netchan.Exporter, *netchan.Importer) {
	exp, err := netchan.NewExporter("tcp://127.0.0.1:*")
	if err != nil {
		b.Fatalf("NewExporter: %v", err)
	}
	imp, err := netchan.NewImporter(exp.Addr())
	if err != nil {
		b.Fatalf("NewImporter: %v", err)
	}
	return exp, imp
}
