package backup

import "os"

// SetLink replaces os.Link for the test's length, as a file system without hard links fails it.
func SetLink(f func(oldname, newname string) error) (restore func()) {
	link = f
	return func() { link = os.Link }
}

// SetCreatedPartial calls f with the name of each partial file Save makes, before Save locks
// it, for the test's length.
func SetCreatedPartial(f func(name string)) (restore func()) {
	createdPartial = f
	return func() { createdPartial = func(string) {} }
}
