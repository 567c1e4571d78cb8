package netchan_test

import (
	"errors"
	"testing"
	"time"

	netchan "netchan.dev/netchan/bindings/go"
)

// receiveNumbers takes count values from ch and checks that they are from, from+1, ...
func receiveNumbers(t *testing.T, ch <-chan []byte, from, count int) {
	t.Helper()
	for i := from; i < from+count; i++ {
		v := receive(t, ch)
		n, err := parseNumber(v)
		if err != nil || n != i {
			t.Fatalf("got value %q, want %d", v, i)
		}
	}
}

// exportNumbers exports a Send channel named name fed with the values 1..count, which stays
// open after them.
func exportNumbers(t *testing.T, exp *netchan.Exporter, name string, count int) {
	t.Helper()
	out := make(chan []byte)
	if err := exp.Export(name, out, netchan.Send); err != nil {
		t.Fatalf("Export: %v", err)
	}
	go func() {
		for i := 1; i <= count; i++ {
			out <- numbered(i)
		}
	}()
}

// Values in a buffered Go channel count as taken only when the application receives them:
// an importer that closes with values still in the buffer hands them back.
func TestBufferedValuesAckedWhenReceived(t *testing.T) {
	exp := newExporter(t)
	exportNumbers(t, exp, "numbers", 20)
	waitFor(t, "20 values handed to the exporter", pendingOf(t, exp, "numbers", 20))

	first := newImporter(t, exp)
	in := make(chan []byte, 10)
	if err := first.Import("numbers", in, netchan.Recv, 0); err != nil {
		t.Fatalf("Import: %v", err)
	}
	waitFor(t, "a full buffer", func() bool { return len(in) == cap(in) })
	receiveNumbers(t, in, 1, 4)
	waitFor(t, "4 acknowledgements", pendingOf(t, exp, "numbers", 16))

	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	second := newImporter(t, exp)
	again := make(chan []byte)
	if err := second.Import("numbers", again, netchan.Recv, 0); err != nil {
		t.Fatalf("second Import: %v", err)
	}
	receiveNumbers(t, again, 5, 16)
}

// The value that the binding holds while it waits for the application to receive it is not
// acknowledged.
func TestUnreceivedValueGoesBack(t *testing.T) {
	exp := newExporter(t)
	exportNumbers(t, exp, "numbers", 10)

	first := newImporter(t, exp)
	in := make(chan []byte)
	if err := first.Import("numbers", in, netchan.Recv, 3); err != nil {
		t.Fatalf("Import: %v", err)
	}
	receiveNumbers(t, in, 1, 3)
	// The importer holds 4 in its goroutine and 5 and 6 in the C library.
	waitFor(t, "two values received ahead", pendingOf(t, first, "numbers", 2))
	waitFor(t, "3 acknowledgements", pendingOf(t, exp, "numbers", 7))
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	expectClosed(t, in)

	second := newImporter(t, exp)
	again := make(chan []byte)
	if err := second.Import("numbers", again, netchan.Recv, 0); err != nil {
		t.Fatalf("second Import: %v", err)
	}
	receiveNumbers(t, again, 4, 7)
}

func TestDrainCountsBufferedValues(t *testing.T) {
	exp := newExporter(t)
	out := make(chan []byte, 100)
	if err := exp.Export("numbers", out, netchan.Send); err != nil {
		t.Fatalf("Export: %v", err)
	}
	for i := 1; i <= 100; i++ {
		out <- numbered(i)
	}

	err := exp.Drain(100 * time.Millisecond)
	var drainErr *netchan.Error
	if !errors.As(err, &drainErr) || drainErr.Code != netchan.ErrTimedOut {
		t.Fatalf("Drain with no importer: got %v, want a timeout", err)
	}
	if drainErr.Pending != 100 {
		t.Fatalf("Drain reported %d pending values, want 100", drainErr.Pending)
	}

	imp := newImporter(t, exp)
	in := make(chan []byte)
	if err := imp.Import("numbers", in, netchan.Recv, 0); err != nil {
		t.Fatalf("Import: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- exp.Drain(stepTimeout) }()
	receiveNumbers(t, in, 1, 100)
	if err := receive(t, done); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

// Drain hands over what the application sent before it, even from a Go buffer. A capacity of 2
// keeps most values waiting in the Go channel while Drain starts.
func TestDrainWaitsForBufferedValues(t *testing.T) {
	exp := newExporter(t)
	out := make(chan []byte, 50)
	if err := exp.Export("numbers", out, netchan.Send, netchan.WithCapacity(2)); err != nil {
		t.Fatalf("Export: %v", err)
	}
	imp := newImporter(t, exp)
	in := make(chan []byte)
	if err := imp.Import("numbers", in, netchan.Recv, 0); err != nil {
		t.Fatalf("Import: %v", err)
	}
	received := make(chan int, 1)
	go func() {
		n := 0
		for range in {
			n++
		}
		received <- n
	}()

	for i := 1; i <= 50; i++ {
		out <- numbered(i)
	}
	if err := exp.Drain(stepTimeout); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if len(out) != 0 {
		t.Fatalf("Drain returned with %d values still in the Go channel", len(out))
	}
	close(out)
	if n := receive(t, received); n != 50 {
		t.Fatalf("importer received %d values, want 50", n)
	}
}

func TestHangupReceivingChannel(t *testing.T) {
	exp := newExporter(t)
	exportNumbers(t, exp, "numbers", 10)
	first := newImporter(t, exp)
	in := make(chan []byte)
	if err := first.Import("numbers", in, netchan.Recv, 4); err != nil {
		t.Fatalf("Import: %v", err)
	}
	receiveNumbers(t, in, 1, 2)

	if err := first.Hangup("numbers"); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	expectClosed(t, in)
	if err := first.Hangup("numbers"); err != nil {
		t.Errorf("second Hangup: %v", err)
	}
	if err := first.Hangup("unknown"); !errors.Is(err, netchan.ErrNotFound) {
		t.Errorf("Hangup of an unknown name: got %v, want ErrNotFound", err)
	}

	second := newImporter(t, exp)
	again := make(chan []byte)
	if err := second.Import("numbers", again, netchan.Recv, 0); err != nil {
		t.Fatalf("second Import: %v", err)
	}
	receiveNumbers(t, again, 3, 8)
}

func TestHangupSendingChannel(t *testing.T) {
	exp := newExporter(t)
	out := make(chan []byte)
	if err := exp.Export("numbers", out, netchan.Send); err != nil {
		t.Fatalf("Export: %v", err)
	}
	for i := 1; i <= 3; i++ {
		out <- numbered(i)
	}
	if err := exp.Hangup("numbers"); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	select {
	case out <- numbered(4):
		t.Fatalf("the exporter took a value after Hangup")
	default:
	}

	imp := newImporter(t, exp)
	in := make(chan []byte)
	if err := imp.Import("numbers", in, netchan.Recv, 0); err != nil {
		t.Fatalf("Import: %v", err)
	}
	receiveNumbers(t, in, 1, 3)
	expectClosed(t, in)
	if err := exp.Drain(stepTimeout); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

func TestImportNValues(t *testing.T) {
	exp := newExporter(t)
	exportNumbers(t, exp, "numbers", 10)
	first := newImporter(t, exp)
	in := make(chan []byte)
	if err := first.ImportNValues("numbers", in, netchan.Recv, 16, 3); err != nil {
		t.Fatalf("ImportNValues: %v", err)
	}
	receiveNumbers(t, in, 1, 3)
	expectClosed(t, in)

	second := newImporter(t, exp)
	again := make(chan []byte)
	if err := second.Import("numbers", again, netchan.Recv, 0); err != nil {
		t.Fatalf("second Import: %v", err)
	}
	receiveNumbers(t, again, 4, 7)
}

func TestCloseClosesGoChannels(t *testing.T) {
	exp := newExporter(t)
	exportNumbers(t, exp, "numbers", 5)
	imp := newImporter(t, exp)
	in := make(chan []byte)
	if err := imp.Import("numbers", in, netchan.Recv, 0); err != nil {
		t.Fatalf("Import: %v", err)
	}
	receiveNumbers(t, in, 1, 1)

	if err := imp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	expectClosed(t, in)
	if err := imp.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err := imp.Import("numbers", make(chan []byte), netchan.Recv, 0)
	if !errors.Is(err, netchan.ErrState) {
		t.Errorf("Import after Close: got %v, want ErrState", err)
	}
	if err := imp.Drain(time.Second); !errors.Is(err, netchan.ErrState) {
		t.Errorf("Drain after Close: got %v, want ErrState", err)
	}
}
