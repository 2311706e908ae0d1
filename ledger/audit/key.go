package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// KeyName is the name in the ledger's signer and verifier keys; it is the name on every
// checkpoint signature line ("— compact-ledger ...").
const KeyName = "compact-ledger"

// Names of the key files in the data directory.
const (
	// SignerKeyFile holds the private signer key (note format "PRIVATE+KEY+..."), mode 0600.
	SignerKeyFile = "ledger.key"
	// VerifierKeyFile holds the public verifier key, the one auditors need.
	VerifierKeyFile = "ledger.pub"
)

// LoadOrCreateKey returns the ledger's signer and its verifier key, creating the key pair
// in dataDir at first start. The private key never leaves dataDir/ledger.key.
//
// Creation is atomic: the key is written to a temporary file and linked into place, so a
// crash leaves either no key or a whole one, and two processes starting at once end up
// with the same key. A directory that holds the verifier key but not the signing key is
// refused rather than given a new key: the verifier key says the ledger's key is elsewhere.
func LoadOrCreateKey(dataDir string) (note.Signer, string, error) {
	path := filepath.Join(dataDir, SignerKeyFile)
	pubPath := filepath.Join(dataDir, VerifierKeyFile)
	skey, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, perr := os.Stat(pubPath); perr == nil {
			// The verifier key names the ledger's key, whose signing half was not copied
			// here: a key made anew would not match it. A process making the pair at this
			// moment links the signing key first, so read it once more before refusing.
			if skey, err = os.ReadFile(path); errors.Is(err, fs.ErrNotExist) {
				return nil, "", fmt.Errorf("ledger signing key %s is missing, though %s holds the ledger's verifier key: "+
					"copy %s from where the key was made (or restore it from a backup); "+
					"a new key would sign checkpoints that do not verify against the ledger's", path, pubPath, SignerKeyFile)
			}
		} else {
			if err := createKey(dataDir); err != nil {
				return nil, "", err
			}
			skey, err = os.ReadFile(path)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("ledger signing key: %w", err)
	}
	signer, vkey, err := parseSignerKey(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, "", fmt.Errorf("ledger signing key %s: %w (restore it from a backup; a new key cannot sign on from the old checkpoints)", path, err)
	}
	pub, err := os.ReadFile(pubPath)
	if errors.Is(err, fs.ErrNotExist) {
		err = writeFileAtomic(pubPath, []byte(vkey+"\n"), 0o644)
		if err == nil {
			return signer, vkey, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, "", fmt.Errorf("ledger verifier key: %w", err)
		}
		// another process starting at once wrote it first: check theirs like any other
		pub, err = os.ReadFile(pubPath)
	}
	switch {
	case err != nil:
		return nil, "", fmt.Errorf("ledger verifier key: %w", err)
	case strings.TrimSpace(string(pub)) != vkey:
		return nil, "", fmt.Errorf("ledger verifier key %s does not belong to the signing key %s: "+
			"delete %s to have it written again from the signing key", pubPath, path, pubPath)
	}
	return signer, vkey, nil
}

// VerifierKeyOf returns the verifier key of a signing key, the text of a ledger.key: a
// restore checks the key it is given against the backup's before it writes it anywhere.
func VerifierKeyOf(signerKey []byte) (string, error) {
	_, vkey, err := parseSignerKey(strings.TrimSpace(string(signerKey)))
	return vkey, err
}

// ReadVerifierKey reads the verifier key from dataDir without touching the private key.
func ReadVerifierKey(dataDir string) (string, error) {
	path := filepath.Join(dataDir, VerifierKeyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("ledger verifier key: %w (it is created by the first 'compact serve' with this --data)", err)
	}
	vkey := strings.TrimSpace(string(b))
	if _, err := NewVerifier(vkey); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return vkey, nil
}

// NewVerifier parses a verifier key ("compact-ledger+1234abcd+AX..."). Its errors quote at
// most the start of what they were given, and never a signing key: ledger.key given for
// ledger.pub (the files sit side by side) would otherwise be printed whole, on a terminal
// or in a CI log.
func NewVerifier(vkey string) (note.Verifier, error) {
	vkey = strings.TrimSpace(vkey)
	if strings.HasPrefix(vkey, "PRIVATE+KEY+") {
		return nil, fmt.Errorf("%w: that is the ledger's signing key (%s), a secret: give its verifier key, %s or 'compact key'",
			ErrSigningKey, SignerKeyFile, VerifierKeyFile)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		shown := vkey
		if len(shown) > 80 {
			shown = shown[:80] + "…"
		}
		return nil, fmt.Errorf("verifier key %q: %w (want NAME+HASH+BASE64 as printed by 'compact key')", shown, err)
	}
	return v, nil
}

func createKey(dataDir string) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	skey, _, err := note.GenerateKey(rand.Reader, KeyName)
	if err != nil {
		return err
	}
	err = writeFileAtomic(filepath.Join(dataDir, SignerKeyFile), []byte(skey+"\n"), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process made it first; use theirs
	}
	return err
}

// writeFileAtomic creates path with data, failing with fs.ErrExist if it exists. The data
// is synced before the file appears under its name.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// parseSignerKey opens a note signer key and derives its verifier key.
func parseSignerKey(skey string) (note.Signer, string, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", err
	}
	// PRIVATE+KEY+<name>+<hash>+<base64(alg || seed)>; NewSigner has checked the shape.
	parts := strings.SplitN(skey, "+", 5) // the base64 key may hold "+" itself
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, "", errors.New("not an ed25519 signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return nil, "", err
	}
	return signer, vkey, nil
}
