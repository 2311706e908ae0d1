//go:build !linux

package backup

// renameNoReplace renames from to to, failing with an error that is os.ErrExist when to
// exists; here by a check before the rename.
func renameNoReplace(from, to string) error { return checkThenRename(from, to) }
