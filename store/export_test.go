package store

// ClaimCount returns the number of event claims m holds, expired or not.
func ClaimCount(m *Memory) int {
	m.claims.mu.Lock()
	defer m.claims.mu.Unlock()
	return m.claims.len()
}
