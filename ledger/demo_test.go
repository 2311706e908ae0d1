package ledger_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"compact/ledger"
)

// serve --demo on a data directory where a demo entity was revoked refuses it, naming the
// entity, rather than issuing it new credentials: the demo would undo the revocation (its
// events need a live publisher), and whoever revoked it meant it.
func TestDemoRefusesARevokedDemoEntity(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	if _, err := ledger.AddEntity(t.Context(), dir, "UNOCT", "UN Office of Counter-Terrorism", ledger.RolePublisher); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.RevokeCredentials(t.Context(), dir, "UNOCT"); err != nil {
		t.Fatal(err)
	}
	load, err := n.PrepareDemo(t.Context(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "UNOCT") || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("PrepareDemo with UNOCT revoked: %v (load %v); want an error naming UNOCT, revoked", err, load != nil)
	}
	recs, err := ledger.ListEntities(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Revoked == nil || recs[0].NKey != "" || recs[0].TokenSHA256 != "" {
		t.Fatalf("the entities after serve --demo was refused: %+v; want UNOCT alone, revoked still", recs)
	}
}
