package backup

import "os"

// SetLink replaces os.Link for the test's length, as a file system without hard links fails it.
func SetLink(f func(oldname, newname string) error) (restore func()) {
	link = f
	return func() { link = os.Link }
}
