package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"compact/ledger"
)

// TestPublishAcrossKills runs `compact publish` over a file while either the server or the
// publish process itself is SIGKILLed at a random moment: every result it printed before is in
// the ledger at that sequence, and publishing the same file again completes it, answering the
// events stored before as duplicates at the same sequences, with no event stored twice.
func TestPublishAcrossKills(t *testing.T) {
	bin := compactBinary(t)
	dataDir := t.TempDir()
	srv := newRestartable(t, bin, dataDir)
	pub := addEntityCLI(t, bin, dataDir, "UNODC", "publisher")
	aud := addEntityCLI(t, bin, dataDir, "AUDITOR", "auditor")
	const n = 4000
	file := filepath.Join(t.TempDir(), "events.jsonl")
	var in bytes.Buffer
	for i := range n {
		in.Write(perfEvent("UNODC", fmt.Sprintf("p-%05d", i)))
		in.WriteByte('\n')
	}
	if err := os.WriteFile(file, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	log := &ledgerLog{out: map[string]outcome{}, seq: map[string]uint64{}}
	publish := func(c *child) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, "publish", file, "--batch", "40", "--server", c.httpURL, "--token", pub.Token)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	results := func(out *bytes.Buffer) []ledger.Result {
		var rs []ledger.Result
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r ledger.Result
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("publish printed %q: %v", sc.Bytes(), err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	c := srv.start()
	for round := range *crashRounds * 2 {
		cmd, out := publish(c)
		time.Sleep(time.Duration(50+rand.IntN(700)) * time.Millisecond)
		killServer := round%2 == 0
		if killServer {
			c.kill()
		} else {
			cmd.Process.Signal(syscall.SIGKILL)
		}
		err := cmd.Wait()
		rs := results(out)
		for _, r := range rs {
			if r.Error == nil {
				log.record(r.ID, acked, r.Seq)
			}
		}
		t.Logf("round %d (killed the %s): %d results printed, publish: %v", round, map[bool]string{true: "server", false: "publisher"}[killServer], len(rs), err)
		if killServer {
			c = srv.start()
		}
		if len(snapshot(log)) > 0 { // (a kill before the first answer leaves nothing to check)
			checkLedger(t, c.httpURL, aud.Token, log)
		}
	}
	cmd, out := publish(c)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("publish after the kills: %v", err)
	}
	rs := results(out)
	if len(rs) != n {
		t.Fatalf("publish after the kills printed %d results, want %d", len(rs), n)
	}
	before := snapshot(log)
	for _, r := range rs {
		if r.Error != nil {
			t.Fatalf("publish after the kills: %s rejected: %v", r.ID, r.Error)
		}
		if o, ok := before[r.ID]; ok && o == acked && (!r.Duplicate || r.Seq != log.seq[r.ID]) {
			t.Fatalf("%s, stored at seq %d before, answered %+v", r.ID, log.seq[r.ID], r)
		}
		log.record(r.ID, acked, r.Seq)
	}
	checkLedger(t, c.httpURL, aud.Token, log)
	verifyCLI(t, bin, c.httpURL, dataDir, aud.Token)
}
