package netchan_test

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	netchan "netchan.dev/netchan/bindings/go"
)

// stepTimeout bounds every wait in the tests, so that a test that hangs fails instead.
const stepTimeout = 20 * time.Second

func TestMain(m *testing.M) {
	// The process tests start this test binary again as an importer process.
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

func newExporter(t testing.TB, opts ...netchan.Option) *netchan.Exporter {
	t.Helper()
	exp, err := netchan.NewExporter("tcp://127.0.0.1:*", opts...)
	if err != nil {
		t.Fatalf("NewExporter: %v", err)
	}
	t.Cleanup(func() { exp.Close() })
	return exp
}

func newImporter(t testing.TB, exp *netchan.Exporter, opts ...netchan.Option) *netchan.Importer {
	t.Helper()
	imp, err := netchan.NewImporter(exp.Addr(), opts...)
	if err != nil {
		t.Fatalf("NewImporter(%s): %v", exp.Addr(), err)
	}
	t.Cleanup(func() { imp.Close() })
	return imp
}

// receive takes one value from ch, failing the test when none comes within stepTimeout or ch
// is closed.
func receive[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("channel closed while a value was expected")
		}
		return v
	case <-time.After(stepTimeout):
		t.Fatalf("no value within %v", stepTimeout)
	}
	panic("unreachable")
}

// expectClosed fails the test unless ch is closed, with no value left, within stepTimeout.
func expectClosed[T any](t testing.TB, ch <-chan T) {
	t.Helper()
	select {
	case v, ok := <-ch:
		if ok {
			t.Fatalf("received %v where the channel should be closed", v)
		}
	case <-time.After(stepTimeout):
		t.Fatalf("channel not closed within %v", stepTimeout)
	}
}

// waitFor polls condition until it holds, failing the test after stepTimeout.
func waitFor(t testing.TB, description string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", stepTimeout, description)
		}
		time.Sleep(time.Millisecond)
	}
}

// pendingOf returns a function reporting the Pending count of a channel, for waitFor.
func pendingOf(t testing.TB, side interface {
	Pending(string) (uint64, error)
}, name string, want uint64) func() bool {
	return func() bool {
		pending, err := side.Pending(name)
		if err != nil {
			t.Fatalf("Pending(%q): %v", name, err)
		}
		return pending == want
	}
}

func numbered(i int) []byte {
	return []byte(strconv.Itoa(i))
}

func parseNumber(value []byte) (int, error) {
	return strconv.Atoi(string(value))
}

// waitGroupWithin waits for wg, failing the test after stepTimeout.
func waitGroupWithin(t testing.TB, wg *sync.WaitGroup, description string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stepTimeout):
		t.Fatalf("timed out after %v waiting for %s", stepTimeout, description)
	}
}

// sendAll sends values on ch from a new goroutine and closes ch afterwards.
func sendAll(ch chan<- []byte, from, to int) {
	go func() {
		for i := from; i <= to; i++ {
			ch <- numbered(i)
		}
		close(ch)
	}()
}

func describe(values []int) string {
	if len(values) > 20 {
		return fmt.Sprintf("%v ... (%d values)", values[:20], len(values))
	}
	return fmt.Sprint(values)
}
