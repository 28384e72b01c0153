package fs

// LiveDocNodes returns how many document nodes of database db go-fuse
// still holds for the kernel (see nodeBudget).
func (h *Handle) LiveDocNodes(db string) int {
	dir := h.m.inv.root.GetChild(db)
	if dir == nil {
		return 0
	}
	n := 0
	for _, ch := range dir.Children() {
		if fn, ok := ch.Operations().(*fileNode); ok {
			fn.mu.Lock()
			if fn.kind == kindDoc {
				n++
			}
			fn.mu.Unlock()
		}
	}
	return n
}
