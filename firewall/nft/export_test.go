package nft

// AddRefreshes reports what Setup found the kernel to do.
func AddRefreshes(b *Backend) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addRefreshes
}

// UsePortableRefresh makes b refresh grants by add, delete, add, as on a
// kernel older than element timeout updates, so the tests cover that path
// on any kernel.
func UsePortableRefresh(b *Backend) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addRefreshes = false
}
