package main

import (
	"encoding/json"
	"strings"
	"testing"

	"compact/ledger"
)

// 'entities list' shows every registered entity, revoked ones marked, and never a secret or
// a token's hash; '--json' gives the same as data.
func TestEntitiesList(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	if out, _, code := entitiesCLI(t, bin, "list", "--data", dir); code != 0 || !strings.Contains(out, "No entities registered") {
		t.Fatalf("list of an empty directory: exit %d, %q", code, out)
	}
	unodc := addEntityCLI(t, bin, dir, "UNODC", "publisher")
	cted := addEntityCLI(t, bin, dir, "CTED", "auditor")
	if _, stderr, code := entitiesCLI(t, bin, "revoke", "CTED", "--data", dir); code != 0 {
		t.Fatalf("revoke: %s", stderr)
	}
	out, stderr, code := entitiesCLI(t, bin, "list", "--data", dir)
	if code != 0 {
		t.Fatalf("list: exit %d, %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ENTITY") ||
		!strings.HasPrefix(lines[1], "CTED") || !strings.Contains(lines[1], "auditor") || !strings.Contains(lines[1], "revoked") ||
		!strings.HasPrefix(lines[2], "UNODC") || !strings.Contains(lines[2], "publisher") || !strings.Contains(lines[2], "live") {
		t.Fatalf("list printed:\n%s", out)
	}
	recs, err := ledger.ListEntities(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{unodc.Token, unodc.NKeySeed, cted.Token, cted.NKeySeed, recs[1].TokenSHA256} {
		if strings.Contains(out, secret) {
			t.Fatalf("list printed a secret or a token's hash: %s", out)
		}
	}

	out, _, code = entitiesCLI(t, bin, "list", "--data", dir, "--json")
	var listed []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 2 {
		t.Fatalf("list --json: exit %d, %q", code, out)
	}
	if listed[0]["entity"] != "CTED" || listed[0]["revoked"] == nil || listed[0]["nkey"] != nil ||
		listed[1]["entity"] != "UNODC" || listed[1]["role"] != "publisher" || listed[1]["nkey"] != recs[1].NKey {
		t.Fatalf("list --json: %s", out)
	}
	if strings.Contains(out, "token") || strings.Contains(out, unodc.NKeySeed) {
		t.Fatalf("list --json printed a token or a seed: %s", out)
	}
	if _, _, code := entitiesCLI(t, bin, "list", "UNODC", "--data", dir); code != 2 {
		t.Fatalf("list with an argument: exit %d, want 2", code)
	}
}
