package netchan_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	netchan "netchan.dev/netchan/bindings/go"
)

// The process tests start this test binary again as an importer process; TestMain runs
// runChild instead of the tests when childModeEnv is set. The child reads the rest of its
// instructions from these variables and prints one line "value N" per value it received.
const (
	childModeEnv     = "NETCHAN_GO_TEST_CHILD"
	childEndpointEnv = "NETCHAN_GO_TEST_ENDPOINT"
	childCountEnv    = "NETCHAN_GO_TEST_COUNT"
	childSizeEnv     = "NETCHAN_GO_TEST_SIZE"
)

// Child modes.
const (
	// Take COUNT values with ImportNValues, close the importer and exit 0.
	modeExit = "exit"
	// Take COUNT values, print "stalled" and stop receiving until killed.
	modeStall = "stall"
	// Take COUNT values and kill itself with SIGKILL right after printing the last one.
	modeSelfKill = "self-kill"
	// Take every value until end of stream, close the importer and exit 0.
	modeRest = "rest"
)

func runChild(mode string) int {
	count, _ := strconv.Atoi(os.Getenv(childCountEnv))
	size, _ := strconv.Atoi(os.Getenv(childSizeEnv))
	imp, err := netchan.NewImporter(os.Getenv(childEndpointEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	in := make(chan []byte)
	if mode == modeExit {
		err = imp.ImportNValues("numbers", in, netchan.Recv, size, count)
	} else {
		err = imp.Import("numbers", in, netchan.Recv, size)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}

	received := 0
	for v := range in {
		// os.Stdout is unbuffered, so the line is in the pipe once Fprintf returns.
		fmt.Fprintf(os.Stdout, "value %s\n", v)
		received++
		if mode == modeSelfKill && received == count {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		if mode == modeStall && received == count {
			fmt.Fprintln(os.Stdout, "stalled")
			io.Copy(io.Discard, os.Stdin) // until the parent kills this process
			return 1
		}
	}
	if err := imp.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// childResult is what one importer process printed.
type childResult struct {
	mode   string
	values []int
	killed bool
}

// runImporterProcess runs one child and returns its values once it has exited or, in mode
// stall, once the parent killed it.
func runImporterProcess(t *testing.T, endpoint, mode string, count, size int) childResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childModeEnv+"="+mode,
		childEndpointEnv+"="+endpoint,
		childCountEnv+"="+strconv.Itoa(count),
		childSizeEnv+"="+strconv.Itoa(size))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("stdin pipe: %v", err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the importer process: %v", err)
	}

	result := childResult{mode: mode}
	lines := make(chan string)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
		close(lines)
	}()
	timeout := time.After(stepTimeout)
	for reading := true; reading; {
		select {
		case line, ok := <-lines:
			switch {
			case !ok:
				reading = false
			case line == "stalled":
				// The child holds the next value unreceived; kill it there.
				cmd.Process.Kill()
				result.killed = true
			case strings.HasPrefix(line, "value "):
				n, err := strconv.Atoi(strings.TrimPrefix(line, "value "))
				if err != nil {
					t.Fatalf("importer process printed %q", line)
				}
				result.values = append(result.values, n)
			default:
				t.Fatalf("importer process printed %q", line)
			}
		case <-timeout:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("importer process in mode %s still running after %v, %d values taken",
				mode, stepTimeout, len(result.values))
		}
	}
	err = cmd.Wait()
	if mode == modeSelfKill {
		status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !status.Signaled() || status.Signal() != syscall.SIGKILL {
			t.Fatalf("self-killing importer process ended with %v", err)
		}
		result.killed = true
	} else if !result.killed && err != nil {
		t.Fatalf("importer process in mode %s failed: %v", mode, err)
	}
	if mode != modeRest && len(result.values) != count {
		t.Fatalf("importer process in mode %s took %d values, want %d", mode,
			len(result.values), count)
	}
	return result
}

// A Go exporter keeps running while Go importer processes take some values and exit, or are
// killed. Nothing is lost, and only values that a killed process had received can arrive
// twice.
func TestImporterRestartProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts importer processes")
	}
	const total = 3000
	exp := newExporter(t)
	out := make(chan []byte)
	if err := exp.Export("numbers", out, netchan.Send); err != nil {
		t.Fatalf("Export: %v", err)
	}
	sendAll(out, 1, total)

	steps := []struct {
		mode        string
		count, size int
	}{
		{modeExit, 300, 16},
		{modeStall, 200, 0},
		{modeExit, 250, 0},
		{modeSelfKill, 150, 16},
		{modeStall, 100, 1},
		{modeExit, 1, 1},
		{modeSelfKill, 300, 0},
		{modeExit, 200, 64},
		{modeRest, 0, 0},
	}
	var results []childResult
	for _, step := range steps {
		results = append(results, runImporterProcess(t, exp.Addr(), step.mode, step.count, step.size))
	}

	// Each value must have been printed, and at most once by a process that was not killed.
	printed := make(map[int]int)
	byLiving := make(map[int]int)
	for _, r := range results {
		for _, n := range r.values {
			printed[n]++
			if !r.killed {
				byLiving[n]++
			}
		}
	}
	var missing, extra []int
	duplicates := 0
	for n := 1; n <= total; n++ {
		if printed[n] == 0 {
			missing = append(missing, n)
		}
		if byLiving[n] > 1 {
			extra = append(extra, n)
		}
		if printed[n] > 1 {
			duplicates++
		}
	}
	if len(printed) != total {
		t.Errorf("printed %d distinct values, want %d", len(printed), total)
	}
	if len(missing) > 0 {
		t.Errorf("lost values: %s", describe(missing))
	}
	if len(extra) > 0 {
		t.Errorf("values printed twice by importers that were not killed: %s", describe(extra))
	}
	t.Logf("%d values, %d printed again after a killed importer", total, duplicates)
	for i, r := range results {
		again := 0
		for _, n := range r.values {
			if printed[n] > 1 {
				again++
			}
		}
		t.Logf("importer %d (%s, %d values): %d of its values printed more than once", i, r.mode,
			len(r.values), again)
	}
	if err := exp.Drain(stepTimeout); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

// A Go importer receives from the C command-line exporter (NETCHAN_CLI names it).
func TestImportFromCLIExporter(t *testing.T) {
	cli := os.Getenv("NETCHAN_CLI")
	if cli == "" {
		t.Skip("NETCHAN_CLI is not set; meson test sets it to the netchan command-line tool")
	}
	const total = 2000
	cmd := exec.Command(cli, "export", "--bind", "tcp://127.0.0.1:*", "--send", "lines")
	var input strings.Builder
	for i := 1; i <= total; i++ {
		fmt.Fprintf(&input, "line %d\n", i)
	}
	cmd.Stdin = strings.NewReader(input.String())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("stderr pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cli, err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		cmd.Process.Kill()
	})

	// "netchan: exporting 'lines' on ENDPOINT"
	endpoints := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			line := scanner.Text()
			fmt.Fprintln(os.Stderr, "cli exporter:", line)
			const prefix = "netchan: exporting 'lines' on "
			if strings.HasPrefix(line, prefix) {
				endpoints <- strings.TrimPrefix(line, prefix)
			}
		}
		exited <- cmd.Wait()
	}()
	var endpoint string
	select {
	case endpoint = <-endpoints:
	case err := <-exited:
		t.Fatalf("the CLI exporter exited before it printed its endpoint: %v", err)
	case <-time.After(stepTimeout):
		t.Fatalf("the CLI exporter printed no endpoint within %v", stepTimeout)
	}

	imp, err := netchan.NewImporter(endpoint)
	if err != nil {
		t.Fatalf("NewImporter: %v", err)
	}
	defer imp.Close()
	in := make(chan []byte)
	if err := imp.Import("lines", in, netchan.Recv, 0); err != nil {
		t.Fatalf("Import: %v", err)
	}
	for i := 1; i <= total; i++ {
		got := string(receive(t, in))
		if want := fmt.Sprintf("line %d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	expectClosed(t, in)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the CLI exporter failed: %v", err)
		}
	case <-time.After(stepTimeout):
		t.Fatalf("the CLI exporter did not exit within %v after its values were received", stepTimeout)
	}
}
