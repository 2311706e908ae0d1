package audit

import (
	"encoding/binary"
	"fmt"
	"math"

	"golang.org/x/mod/sumdb/tlog"
)

// LeafPrefix starts the data of every leaf of the ledger's Merkle tree. It names the
// format so that a leaf can never be read as another kind of record.
const LeafPrefix = "compact-ledger-leaf/v1\n"

// LeafData is the data of the leaf of the message with stream sequence seq:
//
//	"compact-ledger-leaf/v1\n" || uint64be(seq) || uint16be(len(subject)) || subject || body
//
// body is the stored message data, exactly as stored; headers are left out because the
// server adds and rewrites them (atomic batch headers, Nats-Msg-Id handling), while the
// data is never touched. The leaf's hash is the RFC 6962 leaf hash SHA-256(0x00 || data).
func LeafData(seq uint64, subject string, body []byte) ([]byte, error) {
	if len(subject) > math.MaxUint16 {
		return nil, fmt.Errorf("message %d: subject of %d bytes is longer than a leaf can hold (%d)", seq, len(subject), math.MaxUint16)
	}
	b := make([]byte, 0, len(LeafPrefix)+8+2+len(subject)+len(body))
	b = append(b, LeafPrefix...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint16(b, uint16(len(subject)))
	b = append(b, subject...)
	b = append(b, body...)
	return b, nil
}

// LeafHash is the RFC 6962 leaf hash of [LeafData].
func LeafHash(seq uint64, subject string, body []byte) (tlog.Hash, error) {
	d, err := LeafData(seq, subject, body)
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.RecordHash(d), nil
}
