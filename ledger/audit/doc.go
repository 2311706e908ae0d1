// Package audit makes the ledger's history checkable by anyone holding its public key:
// a Merkle tree over every stored message, signed checkpoints of it, verification of a
// replayed history against those checkpoints, and inclusion proofs of single events.
//
// # The tree
//
// The [Checkpointer] folds every message of the stream COMPACT, in sequence order, into an
// RFC 6962 Merkle tree (golang.org/x/mod/sumdb/tlog; its stored hashes are kept in Pebble,
// see tree.go). Leaf i (from 0) is the message with stream sequence i+1, and its data is
//
//	"compact-ledger-leaf/v1\n" || uint64be(seq) || uint16be(len(subject)) || subject || body
//
// hashed as an RFC 6962 leaf: SHA-256(0x00 || data). The body is the stored message data,
// byte for byte. Headers are not covered: the server writes and rewrites them (atomic
// batch headers, Nats-Msg-Id), the data it never touches. Nor is the ledger time (the
// message's stored timestamp): a copy of the stream, re-published in order, verifies
// against the same checkpoints; the price is that the checkpoints do not vouch for ledger
// times.
//
// The tree's hashes and its size are written in one Pebble batch committed with
// pebble.Sync; the checkpointer reads the stream with an ordered consumer from its own
// size + 1. So a crash at any point leaves a tree that is a prefix of the stream's, and it
// resumes without folding any message twice. A hole in the stream (a sequence with no
// message — the stream denies deletes, so this is damage) stops it.
//
// # Checkpoints
//
// Every Every messages (default 1000) and every Interval (default 10s) if the tree grew,
// the checkpointer appends a checkpoint to the stream COMPACT_CHECKPOINTS, subject
// compact.checkpoints. The message body is a C2SP signed note whose text is a C2SP
// tlog-checkpoint:
//
//	compact-ledger/COMPACT
//	1234
//	<base64 of the 32-byte root hash>
//
//	— compact-ledger <base64 of key hash || ed25519 signature>
//
// The origin line defaults to "compact-ledger/" + the stream name. Headers (unsigned)
// repeat the tree size (Compact-Covered-Seq, with Compact-Covered-Stream) and carry the
// RFC 6962 consistency proof from the previous checkpoint's size
// (Compact-Consistency-From, Compact-Consistency-Proof: base64 hashes joined by commas).
// The append is conditional on the checkpoint stream's last message being the checkpoint
// the checkpointer knows (Nats-Expected-Last-Subject-Sequence), so two checkpointers
// cannot interleave; and a checkpointer never signs a tree whose root at a published
// checkpoint's size is not that checkpoint's root (no forks).
//
// The signing key is made at first start ([LoadOrCreateKey]): DATA/ledger.key holds the
// private note signer key (mode 0600), DATA/ledger.pub the verifier key
// "compact-ledger+<hash>+<base64>", printed by `compact key` and served at GET /v1/key.
//
// # Verify
//
// [Verify] (and [VerifySource], for any [Source], such as the HTTP [Client]) trusts only
// the verifier key. It checks each checkpoint's signature and origin, that no two have the
// same size and different roots, that each is proven consistent with the one before it,
// then replays the stream from sequence 1, recomputing the tree itself (with
// transparency-dev/merkle's compact ranges, an implementation independent of the
// checkpointer's), and compares the root at every checkpoint's size. A missing sequence, a
// message out of order, a root that differs, or a stream shorter than a checkpoint is a
// difference; the [Report] names the first sequence. The signed roots alone place a
// difference between two checkpoints; given the leaf hashes the server recorded
// ([LeafHashSource], GET /v1/audit/leaves), checked first to hash to the signed root,
// Verify names the exact message.
//
// The key holder can sign anything: a history rewritten and re-signed from scratch, in a
// new checkpoint stream, is consistent with itself. As with any transparency log, only a
// checkpoint kept outside the operator's reach catches that: pass the notes saved from
// earlier runs as VerifyOptions.Known (`compact verify --checkpoint FILE`, saved with
// --save-checkpoint). A kept checkpoint the history does not match is a difference, and
// the stream's checkpoints that agree with the history are then not trusted to bound it.
//
// # Inclusion proofs
//
// [Checkpointer.Prove] gives a JSON document (format "compact-ledger-inclusion-proof/v1"):
//
//	{
//	  "format": "compact-ledger-inclusion-proof/v1",
//	  "event": {"seq": 6, "ledgertime": "...", "specversion": "1.0", "id": ..., ...},
//	  "subject": "compact.events.UNODC.training.delivered",
//	  "body": "<base64 of the stored message data>",
//	  "leaf_index": 5,                     // seq - 1
//	  "tree_size": 13,
//	  "leaf_hash": "<base64>",             // SHA-256(0x00 || leaf data above)
//	  "proof": ["<base64>", ...],          // RFC 6962 audit path, leaf side first
//	  "root_hash": "<base64>",
//	  "checkpoint": "<the signed note of tree_size and root_hash>"
//	}
//
// [VerifyProof] checks it offline with only the verifier key: the note's signature, that
// tree_size and root_hash are the note's, that leaf_hash is the hash of the leaf built
// from event.seq, subject and body, that the path leads from it to the root, and that the
// event shown is the one in body. Any RFC 6962 verifier can check leaf_index, tree_size,
// leaf_hash, proof and root_hash; the ledger time shown is not covered.
//
// # HTTP
//
// [Routes] serves GET /v1/key (public), GET /v1/checkpoints, GET /v1/audit/messages,
// GET /v1/audit/leaves and GET /v1/proofs (auditors); see Routes.
package audit
