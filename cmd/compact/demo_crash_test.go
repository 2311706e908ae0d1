package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestDemoLoadKilled kills `serve --demo` at random moments of its first starts (registering
// the demo entities, writing their credentials, publishing the dataset) and starts it again
// each time: the demo ends loaded once, its review and counters equal a clean load's, and
// verify passes.
func TestDemoLoadKilled(t *testing.T) {
	bin := compactBinary(t)
	dataDir := t.TempDir()
	srv := newRestartable(t, bin, dataDir)
	for round := range *crashRounds {
		c := srv.start("--demo")
		time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
		c.kill()
		_, err := os.Stat(filepath.Join(dataDir, "demo.loaded"))
		t.Logf("round %d: killed, the demo loaded before: %v", round, err == nil)
	}
	aud := addEntityCLI(t, bin, dataDir, "AUDITOR", "auditor")
	c := srv.start("--demo")
	waitForDemo(t, c, dataDir)
	waitCaughtUp(t, c.httpURL)
	lived := demoViews(t, c.httpURL)
	verifyCLI(t, bin, c.httpURL, dataDir, aud.Token)

	cleanDir := t.TempDir()
	clean := serveChild(t, bin, cleanDir, "--demo")
	waitForDemo(t, clean, cleanDir)
	waitCaughtUp(t, clean.httpURL)
	want := demoViews(t, clean.httpURL)
	for p := range want {
		if !reflect.DeepEqual(lived[p], want[p]) {
			t.Fatalf("%s after the killed demo loads differs from a clean load:\nkilled: %.600v\nclean: %.600v", p, lived[p], want[p])
		}
	}
}

// demoViews reads the demo's review items and counters, leaving out the provenance (which
// checkpoint was the latest depends on when it was read).
func demoViews(t *testing.T, url string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, p := range []string{"/v1/reviews/2025-05?format=json", "/v1/counters?as_of=2025-06-30", "/v1/structure?as_of=2025-06-30"} {
		var v map[string]any
		if err := json.Unmarshal([]byte(httpGet(t, url+p)), &v); err != nil {
			t.Fatal(err)
		}
		delete(v, "provenance")
		out[p] = v
	}
	if sections, _ := out["/v1/reviews/2025-05?format=json"].(map[string]any)["sections"].([]any); len(sections) == 0 {
		t.Fatal("the demo review holds no items: the comparison proves nothing")
	}
	return out
}
