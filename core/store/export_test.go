package store

// SetImportPreloadMax sets importPreloadMax for a test and returns what
// puts it back.
func SetImportPreloadMax(n int) (restore func()) {
	old := importPreloadMax
	importPreloadMax = n
	return func() { importPreloadMax = old }
}
