package audit

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed statement of the ledger: "the tree of the first Size messages
// of the stream has root Root". Note is the whole signed note (C2SP signed-note):
//
//	<origin>\n<size>\n<base64 root>\n\n— <key name> <base64 signature>\n
//
// the body being a C2SP tlog-checkpoint.
type Checkpoint struct {
	Origin string    `json:"origin"`
	Size   uint64    `json:"size"`
	Root   tlog.Hash `json:"root"`
	Note   string    `json:"note"`
	// StreamSeq is the checkpoint's sequence in the checkpoint stream, 0 when unknown.
	StreamSeq uint64 `json:"stream_seq,omitempty"`
}

// CheckpointBody is the C2SP tlog-checkpoint body: origin, size, root, each on its line.
func CheckpointBody(origin string, size uint64, root tlog.Hash) (string, error) {
	if err := checkOrigin(origin); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:])), nil
}

// SignCheckpoint signs the checkpoint of a tree of size with root.
func SignCheckpoint(origin string, size uint64, root tlog.Hash, signer note.Signer) (*Checkpoint, error) {
	body, err := CheckpointBody(origin, size, root)
	if err != nil {
		return nil, err
	}
	msg, err := note.Sign(&note.Note{Text: body}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return &Checkpoint{Origin: origin, Size: size, Root: root, Note: string(msg)}, nil
}

// OpenCheckpoint checks the note's signature with v and parses its body. Extension lines
// after the root (C2SP allows them) are accepted and ignored.
func OpenCheckpoint(msg []byte, v note.Verifier) (*Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, &CheckpointError{Reason: fmt.Sprintf("not signed by the key %s (signatures: %s)", keyID(v), sigList(unverified.Note.UnverifiedSigs))}
		case errors.As(err, &invalid):
			return nil, &CheckpointError{Reason: fmt.Sprintf("signature by %s does not verify: the note was altered or forged", keyID(v))}
		default:
			return nil, &CheckpointError{Reason: "not a signed note: " + err.Error(), NotNote: true}
		}
	}
	origin, size, root, err := ParseCheckpointBody(n.Text)
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Origin: origin, Size: size, Root: root, Note: string(msg)}, nil
}

// ParseCheckpointBody parses the C2SP tlog-checkpoint body of a note (without checking
// any signature).
func ParseCheckpointBody(text string) (origin string, size uint64, root tlog.Hash, err error) {
	lines := strings.SplitAfter(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return "", 0, root, &CheckpointError{Reason: "body must be origin, size and root hash, each on its own line"}
	}
	origin = strings.TrimSuffix(lines[0], "\n")
	if err := checkOrigin(origin); err != nil {
		return "", 0, root, &CheckpointError{Reason: err.Error()}
	}
	sizeText := strings.TrimSuffix(lines[1], "\n")
	size, perr := strconv.ParseUint(sizeText, 10, 64)
	if perr != nil || strconv.FormatUint(size, 10) != sizeText {
		return "", 0, root, &CheckpointError{Reason: fmt.Sprintf("tree size %q is not a decimal number", sizeText)}
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSuffix(lines[2], "\n"))
	if derr != nil || len(raw) != tlog.HashSize {
		return "", 0, root, &CheckpointError{Reason: "root hash is not the base64 of 32 bytes"}
	}
	copy(root[:], raw)
	return origin, size, root, nil
}

func checkOrigin(origin string) error {
	if origin == "" || strings.ContainsAny(origin, "\n\r\t ") {
		return fmt.Errorf("checkpoint origin %q must be one non-empty word (no spaces or newlines)", origin)
	}
	return nil
}

func keyID(v note.Verifier) string {
	return fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
}

func sigList(sigs []note.Signature) string {
	if len(sigs) == 0 {
		return "none"
	}
	var s []string
	for _, sig := range sigs {
		s = append(s, fmt.Sprintf("%s+%08x", sig.Name, sig.Hash))
	}
	return strings.Join(s, ", ")
}
