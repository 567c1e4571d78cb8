package netchan_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	netchan "netchan.dev/netchan/bindings/go"
	"netchan.dev/netchan/bindings/go/internal/testpb"
)

func TestTypedRoundTrip(t *testing.T) {
	exp := newExporter(t)
	out := make(chan *testpb.Point)
	if err := exp.Export("points", out, netchan.Send); err != nil {
		t.Fatalf("Export: %v", err)
	}
	imp := newImporter(t, exp)
	in := make(chan *testpb.Point)
	if err := imp.Import("points", in, netchan.Recv, 0); err != nil {
		t.Fatalf("Import: %v", err)
	}

	const count = 200
	go func() {
		for i := 0; i < count; i++ {
			out <- &testpb.Point{X: int32(i), Y: int32(-i), Label: strings.Repeat("p", i%7)}
		}
		close(out)
	}()
	for i := 0; i < count; i++ {
		got := receive(t, in)
		want := &testpb.Point{X: int32(i), Y: int32(-i), Label: strings.Repeat("p", i%7)}
		if !proto.Equal(got, want) {
			t.Fatalf("value %d: got %v, want %v", i, got, want)
		}
	}
	expectClosed(t, in)
	if err := exp.Drain(stepTimeout); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

func TestBytesRoundTrip(t *testing.T) {
	exp := newExporter(t)
	out := make(chan []byte)
	if err := exp.Export("blobs", out, netchan.Send); err != nil {
		t.Fatalf("Export: %v", err)
	}
	imp := newImporter(t, exp)
	in := make(chan []byte)
	if err := imp.Import("blobs", in, netchan.Recv, 4); err != nil {
		t.Fatalf("Import: %v", err)
	}

	values := [][]byte{
		{},
		[]byte("hello"),
		{0, 1, 2, 0, 255},
		bytes.Repeat([]byte("large "), 100000), // 600 kB, under the 1 MiB default maximum
	}
	go func() {
		for _, v := range values {
			out <- v
		}
		close(out)
	}()
	for i, want := range values {
		got := receive(t, in)
		if !bytes.Equal(got, want) {
			t.Fatalf("value %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	expectClosed(t, in)
}

func TestImporterSendsToExporter(t *testing.T) {
	exp := newExporter(t)
	in := make(chan *testpb.Point)
	if err := exp.Export("reports", in, netchan.Recv); err != nil {
		t.Fatalf("Export: %v", err)
	}
	imp := newImporter(t, exp)
	out := make(chan *testpb.Point, 8)
	if err := imp.Import("reports", out, netchan.Send, 0); err != nil {
		t.Fatalf("Import: %v", err)
	}

	const count = 100
	for i := 0; i < count; i++ {
		out <- &testpb.Point{X: int32(i)}
	}
	close(out)
	for i := 0; i < count; i++ {
		if got := receive(t, in); got.X != int32(i) {
			t.Fatalf("value %d: got X=%d", i, got.X)
		}
	}
	if err := imp.Drain(stepTimeout); err != nil {
		t.Fatalf("importer Drain: %v", err)
	}
	expectClosed(t, in)
}

func TestTypeMismatchNamesBothTypes(t *testing.T) {
	exp := newExporter(t)
	if err := exp.Export("points", make(chan *testpb.Point), netchan.Send); err != nil {
		t.Fatalf("Export: %v", err)
	}
	imp := newImporter(t, exp)

	err := imp.Import("points", make(chan *testpb.Other), netchan.Recv, 0)
	if !errors.Is(err, netchan.ErrType) {
		t.Fatalf("Import of another type: got %v, want ErrType", err)
	}
	for _, name := range []string{"netchan.test.Point", "netchan.test.Other"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	err = imp.Import("points", make(chan []byte), netchan.Recv, 0)
	if !errors.Is(err, netchan.ErrType) {
		t.Fatalf("Import as bytes: got %v, want ErrType", err)
	}
}

func TestImportErrors(t *testing.T) {
	exp := newExporter(t)
	if err := exp.Export("points", make(chan *testpb.Point), netchan.Send); err != nil {
		t.Fatalf("Export: %v", err)
	}
	imp := newImporter(t, exp)

	err := imp.Import("missing", make(chan *testpb.Point), netchan.Recv, 0)
	if !errors.Is(err, netchan.ErrNotFound) {
		t.Errorf("unknown name: got %v, want ErrNotFound", err)
	}
	err = imp.Import("points", make(chan *testpb.Point), netchan.Send, 0)
	if !errors.Is(err, netchan.ErrDirection) {
		t.Errorf("both sides sending: got %v, want ErrDirection", err)
	}
	err = exp.Export("points", make(chan *testpb.Point), netchan.Send)
	if !errors.Is(err, netchan.ErrExist) {
		t.Errorf("second export of a name: got %v, want ErrExist", err)
	}
}

func TestInvalidGoChannels(t *testing.T) {
	exp := newExporter(t)
	cases := []struct {
		name string
		chT  interface{}
		dir  netchan.Dir
	}{
		{"not a channel", 42, netchan.Send},
		{"nil channel", (chan []byte)(nil), netchan.Send},
		{"element type", make(chan string), netchan.Send},
		{"message by value", make(chan testpb.Point), netchan.Send},
		{"send-only for Send", make(chan<- []byte), netchan.Send},
		{"receive-only for Recv", make(<-chan []byte), netchan.Recv},
		{"invalid direction", make(chan []byte), netchan.Dir(0)},
	}
	for _, c := range cases {
		err := exp.Export("x-"+c.name, c.chT, c.dir)
		if !errors.Is(err, netchan.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", c.name, err)
		}
	}
}

func TestManyGoroutinesOneChannel(t *testing.T) {
	exp := newExporter(t)
	out := make(chan []byte)
	if err := exp.Export("work", out, netchan.Send); err != nil {
		t.Fatalf("Export: %v", err)
	}
	const senders, perSender = 8, 250
	var sending sync.WaitGroup
	for s := 0; s < senders; s++ {
		sending.Add(1)
		go func(s int) {
			defer sending.Done()
			for i := 0; i < perSender; i++ {
				out <- numbered(s*perSender + i)
			}
		}(s)
	}
	go func() {
		sending.Wait()
		close(out)
	}()

	// Two importers compete for the values, each read by four goroutines.
	var mu sync.Mutex
	seen := make(map[int]int)
	var receiving sync.WaitGroup
	for i := 0; i < 2; i++ {
		imp := newImporter(t, exp)
		in := make(chan []byte)
		if err := imp.Import("work", in, netchan.Recv, 16); err != nil {
			t.Fatalf("Import: %v", err)
		}
		for r := 0; r < 4; r++ {
			receiving.Add(1)
			go func() {
				defer receiving.Done()
				for v := range in {
					n, err := parseNumber(v)
					mu.Lock()
					if err != nil {
						seen[-1]++
					} else {
						seen[n]++
					}
					mu.Unlock()
				}
			}()
		}
	}
	waitGroupWithin(t, &receiving, "the receivers to see both channels closed")

	var missing, repeated []int
	for n := 0; n < senders*perSender; n++ {
		switch seen[n] {
		case 0:
			missing = append(missing, n)
		case 1:
		default:
			repeated = append(repeated, n)
		}
	}
	if len(missing) > 0 || len(repeated) > 0 || len(seen) != senders*perSender {
		t.Fatalf("missing %s, repeated %s, %d distinct values", describe(missing),
			describe(repeated), len(seen))
	}
	if err := exp.Drain(stepTimeout); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

func TestErrorsReportsTooBigValues(t *testing.T) {
	exp := newExporter(t, netchan.WithErrorBuffer(2))
	out := make(chan []byte)
	if err := exp.Export("small", out, netchan.Send, netchan.WithMaxValueSize(16)); err != nil {
		t.Fatalf("Export: %v", err)
	}
	for i := 0; i < 5; i++ {
		out <- bytes.Repeat([]byte{'x'}, 17+i)
	}
	waitFor(t, "3 dropped errors", func() bool { return exp.ErrorsDropped() == 3 })

	// The two newest errors are kept.
	for i := 3; i < 5; i++ {
		err := receive(t, exp.Errors())
		if !errors.Is(err, netchan.ErrTooBig) {
			t.Fatalf("error %d: got %v, want ErrTooBig", i, err)
		}
		if want := "value of " + string(numbered(17+i)) + " bytes"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %d: %q does not contain %q", i, err, want)
		}
	}
	pending, err := exp.Pending("small")
	if err != nil || pending != 0 {
		t.Fatalf("Pending: %d, %v; want 0 values accepted", pending, err)
	}
}
