package okta

import "sync"

// seenSet remembers the last n event uuids, in insertion order.
type seenSet struct {
	mu   sync.Mutex
	n    int
	m    map[string]struct{}
	ring []string
	next int
}

func newSeenSet(n int) *seenSet {
	return &seenSet{n: n, m: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add records id and reports whether it was new.
func (s *seenSet) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; ok {
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.m, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % s.n
	s.m[id] = struct{}{}
	return true
}

// forget removes id, so that a redelivery is processed again.
func (s *seenSet) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}
