package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"compact/projections"
)

// runBin runs the compact binary and returns its standard output, standard error and exit code.
func runBin(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return stdout.String(), stderr.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

// The reading and operating commands against `compact serve --demo`: counters (as the May-June
// 2025 review states them), status, replay with its filters, rebuild with an admin token, and
// their usage errors.
func TestReaderCommands(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	admin := addEntityCLI(t, bin, dir, "OPS", "admin")
	c := serveChild(t, bin, dir, "--demo")
	srv := []string{"--server", c.httpURL}

	// status: wait until every view has applied the whole demo. serve listens before it loads
	// the demo (in batches), so the views can be caught up with a stream that is still
	// growing: wait for the marker LoadDemo writes when it is done first.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "demo.loaded")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.logMu.Lock()
			logs := c.logs.String()
			c.logMu.Unlock()
			t.Fatalf("the demo was not loaded within a minute:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var st projections.Status
	for {
		out, stderr, code := runBin(t, bin, append([]string{"status", "--json"}, srv...)...)
		if code != 0 {
			t.Fatalf("status --json: exit %d: %s", code, stderr)
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json printed %q: %v", out, err)
		}
		caughtUp := st.StreamLastSeq > 0 && len(st.Views) > 0
		for _, v := range st.Views {
			caughtUp = caughtUp && v.Running && v.Lag == 0
		}
		if caughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("views not caught up: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _, code := runBin(t, bin, append([]string{"status"}, srv...)...)
	if code != 0 || !strings.Contains(out, "VIEW") || !strings.Contains(out, "counters") || !strings.Contains(out, "review") {
		t.Fatalf("status: exit %d:\n%s", code, out)
	}

	// counters: the review's "Compact in numbers" at the end of June 2025
	out, stderr, code := runBin(t, bin, append([]string{"counters", "--json", "--as-of", "2025-06-30"}, srv...)...)
	if code != 0 {
		t.Fatalf("counters --json: exit %d: %s", code, stderr)
	}
	var cs map[string]any
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatalf("counters --json printed %q: %v", out, err)
	}
	for name, want := range map[string]float64{"entities": 46, "member_states": 137, "focal_points": 1050, "documents_shared": 3670, "ta_recommendations": 861, "country_assessments": 28} {
		if cs[name] != want {
			t.Errorf("counters %s = %v, want %v (the May-June 2025 review)", name, cs[name], want)
		}
	}
	out, _, code = runBin(t, bin, append([]string{"counters", "--as-of", "2025-06-30"}, srv...)...)
	if code != 0 || !strings.Contains(out, "as of 2025-06-30") || !strings.Contains(out, "1,050") {
		t.Fatalf("counters: exit %d:\n%s", code, out)
	}

	// replay: JSON Lines, filtered by entity and type, and from a sequence
	out, stderr, code = runBin(t, bin, append([]string{"replay", "--entity", "UNOCT", "--type", "compact.agreement.signed", "--token", admin.Token}, srv...)...)
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	n := 0
	for line := range strings.Lines(out) {
		var ev struct{ Source, Type string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("replay line %q: %v", line, err)
		}
		if ev.Source != "/entities/UNOCT" || ev.Type != "compact.agreement.signed" {
			t.Fatalf("replay --entity UNOCT --type compact.agreement.signed gave %s %s", ev.Source, ev.Type)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("replay found %d UNOCT agreements, the review names three MoUs", n)
	}
	out, _, code = runBin(t, bin, append([]string{"replay", "--from-seq", "1", "--token", admin.Token}, srv...)...)
	if lines := countLines(out); code != 0 || uint64(lines) != st.StreamLastSeq {
		t.Fatalf("replay --from-seq 1: exit %d, %d lines, the stream holds %d", code, lines, st.StreamLastSeq)
	}
	// a replay whose output cannot be written fails, rather than leave a short file behind an exit 0
	if full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0); err == nil {
		cmd := exec.Command(bin, append([]string{"replay", "--from-seq", "1", "--token", admin.Token}, srv...)...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = full, &stderr
		err := cmd.Run()
		full.Close()
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || !strings.Contains(stderr.String(), "no space left") {
			t.Fatalf("replay into a full device: %v, %q: want exit 1 naming the write error", err, stderr.String())
		}
	}
	if _, stderr, code = runBin(t, bin, append([]string{"replay"}, srv...)...); code != 1 || !strings.Contains(stderr, "401") {
		t.Fatalf("replay without a token: exit %d, %q: want the server's 401", code, stderr)
	}

	// rebuild: an admin rebuilds the review beside the live one and waits for it
	out, stderr, code = runBin(t, bin, append([]string{"rebuild", "review", "--token", admin.Token}, srv...)...)
	if code != 0 {
		t.Fatalf("rebuild review: exit %d: %s%s", code, out, stderr)
	}
	if _, stderr, code = runBin(t, bin, append([]string{"rebuild", "review"}, srv...)...); code != 1 || !strings.Contains(stderr, "admin token") {
		t.Fatalf("rebuild without a token: exit %d, %q", code, stderr)
	}

	// usage errors exit 2 and name the problem
	for _, args := range [][]string{{"status", "extra"}, {"counters", "extra"}, {"replay", "extra"}, {"rebuild", "review", "counters"}} {
		if _, stderr, code := runBin(t, bin, append(args, srv...)...); code != 2 || !strings.Contains(stderr, args[0]) {
			t.Errorf("%v: exit %d, %q: want a usage error (exit 2)", args, code, stderr)
		}
	}
}

func countLines(s string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}
