package fs

// LiveDocNodes returns how many document nodes the kernel holds (see
// nodeBudget).
func (h *Handle) LiveDocNodes() int { return h.m.nodes.liveNodes() }
