// Package tmpfiles makes temporary files and directories that their process holds locked
// (flock) while it works, and removes the ones no process holds: what a killed process left.
//
// A backup's partial file, a verify's restored ledger and a bench's scratch ledgers can each
// be gigabytes, and the first two hold entities' credential hashes. A process stopped cleanly
// removes its own; one that is killed (SIGKILL, a second Ctrl-C, a crash) cannot, so the next
// process of the same kind removes it, telling it from a running one's by the lock, which the
// kernel drops with the process.
package tmpfiles
