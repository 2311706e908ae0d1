package audit

import (
	"testing"

	"compact/ledger"
)

// A message on compact.checkpoints that is not a signed note at all — an auditor's NATS
// user can have one put there: a push consumer it creates on another stream of the ledger's
// account may deliver to that subject, and the stream stores what it receives — does not
// stop the checkpointer, nor keep it from starting again (the stream denies deletes, so the
// message stays for good): it passes over it, signs on from the latest checkpoint, and
// verify reports that one record and proves the whole history.
func TestCheckpointerPassesOverAMessageThatIsNotACheckpoint(t *testing.T) {
	e := newEnv(t)
	signer, vkey := testKey(t)
	ctx := ctxT(t)
	publish(t, e.js, seqs(1, 12)...)
	pdir := t.TempDir()
	c := startCheckpointer(t, e.js, pdir, signer, vkey, 5)
	if cp := flush(t, c); cp.Size != 12 {
		t.Fatalf("%+v", cp)
	}
	// a copy of an event delivered to compact.checkpoints
	_, body := event(1)
	junk, err := e.js.Publish(ctx, ledger.CheckpointSubject, body)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, e.js, seqs(13, 17)...)
	if cp := flush(t, c); cp.Size != 17 {
		t.Fatalf("the running checkpointer after the foreign message: %+v", cp)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(ctx, ledger.CheckpointSubject, body); err != nil { // the last message now
		t.Fatal(err)
	}
	publish(t, e.js, seqs(18, 20)...)
	c2, err := Open(ctx, Config{JetStream: e.js, Dir: pdir, Signer: signer, VerifierKey: vkey, Every: 5})
	if err != nil {
		t.Fatalf("the checkpointer does not start again after a foreign message: %v", err)
	}
	t.Cleanup(func() { c2.Close(ctx) })
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if cp := flush(t, c2); cp.Size != 20 {
		t.Fatalf("%+v", cp)
	}
	rep, _ := Verify(ctx, e.js, vkey, VerifyOptions{})
	if rep.Verified != 20 || rep.FirstBadSeq != 0 {
		t.Fatalf("verify: %s", rep)
	}
	var foreign []uint64
	for _, p := range rep.Problems {
		if p.Kind != ProblemCheckpoint {
			t.Errorf("problem %+v", p)
		}
		foreign = append(foreign, p.CheckpointSeq)
	}
	if len(foreign) != 2 || foreign[0] != junk.Sequence {
		t.Errorf("verify reports %v, want the two foreign records (the first at %d)", rep.Problems, junk.Sequence)
	}
}
