package netchan_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	netchan "netchan.dev/netchan/bindings/go"
)

// pythonWithBinding returns an interpreter that imports the Python binding and protobuf, with
// the environment it needs, or skips the test. The interpreter is $NETCHAN_PYTHON, else the
// repository's .venv (which bindings/python/setup-venv.sh creates), else python3.
func pythonWithBinding(t *testing.T) (string, []string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	library := os.Getenv("NETCHAN_LIBRARY")
	if library == "" {
		t.Skip("NETCHAN_LIBRARY is not set; meson test sets it to the built libnetchan.so")
	}
	python := os.Getenv("NETCHAN_PYTHON")
	if python == "" {
		python = filepath.Join(root, ".venv", "bin", "python")
		if _, err := os.Stat(python); err != nil {
			python = "python3"
		}
	}
	source := filepath.Join(root, "bindings", "python", "src")
	env := append(os.Environ(), "PYTHONPATH="+source, "PYTHONDONTWRITEBYTECODE=1")
	check := exec.Command(python, "-c", "import netchan, google.protobuf.wrappers_pb2")
	check.Env = env
	if output, err := check.CombinedOutput(); err != nil {
		t.Skipf("%s cannot import the Python binding and protobuf (%v): %s", python, err,
			strings.TrimSpace(string(output)))
	}
	return python, env
}

// A Go importer receives typed values from a Python exporter: both bindings must compute the
// same fingerprint for google.protobuf.Int64Value.
func TestImportFromPythonExporter(t *testing.T) {
	python, env := pythonWithBinding(t)
	const total = 500
	cmd := exec.Command(python, filepath.Join("testdata", "python_exporter.py"), strconv.Itoa(total))
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the Python exporter: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	endpoints := make(chan string, 1)
	exited := make(chan error, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			if line := scanner.Text(); strings.HasPrefix(line, "endpoint ") {
				endpoints <- strings.TrimPrefix(line, "endpoint ")
			}
		}
		exited <- cmd.Wait()
	}()
	var endpoint string
	select {
	case endpoint = <-endpoints:
	case err := <-exited:
		t.Fatalf("the Python exporter exited before it printed its endpoint: %v", err)
	case <-time.After(stepTimeout):
		t.Fatalf("the Python exporter printed no endpoint within %v", stepTimeout)
	}

	imp, err := netchan.NewImporter(endpoint)
	if err != nil {
		t.Fatalf("NewImporter: %v", err)
	}
	defer imp.Close()
	in := make(chan *wrapperspb.Int64Value)
	if err := imp.Import("numbers", in, netchan.Recv, 0); err != nil {
		t.Fatalf("Import: %v", err)
	}
	for i := int64(0); i < total; i++ {
		if got := receive(t, in); got.GetValue() != i {
			t.Fatalf("got %d, want %d", got.GetValue(), i)
		}
	}
	expectClosed(t, in)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the Python exporter failed: %v", err)
		}
	case <-time.After(stepTimeout):
		t.Fatalf("the Python exporter did not exit within %v after its values were received",
			stepTimeout)
	}
}
