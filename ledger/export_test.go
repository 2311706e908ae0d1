package ledger

// LoseAcks makes a's writer ignore the next n acknowledgements of its atomic batches, as if
// they were lost on the way: the append times out and its outcome is learnt from the stream.
func LoseAcks(a *Appender, n int) { a.loseAcks.Store(int32(n)) }
