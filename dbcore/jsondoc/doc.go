// Package jsondoc parses, validates and renders CouchDB document bodies
// without encoding/json on the hot path.
//
// Parse checks a document in one pass over its bytes (syntax, UTF-8,
// duplicate keys, nesting depth, size) and splits it into the special
// top-level fields (_id, _rev, _deleted, _revisions) and the compact body
// that couchfs stores. Render produces the deterministic, indented text the
// filesystem serves, and RenderedSize its exact length without building it.
//
// # Goroutines
//
// The package has no state; every function may be called from any goroutine
// concurrently.
package jsondoc
