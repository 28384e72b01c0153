// Package revtree implements CouchDB's revision-tree algorithms
// (couch_key_tree and the winner rules of couch_doc) on engines.RevTree.
//
// # Immutability and sharing
//
// Every function is pure: it never modifies the trees, branches or nodes it is
// given. Functions that produce a new tree (Merge, Stem, RemoveLeaves) copy
// only the nodes on the paths they change and share every other node with
// their inputs, and Merge may also adopt the nodes of the path it inserts.
// So a RevNode that is part of a tree must be treated as frozen by everyone:
// build a new node instead of editing one. When nothing changes, these
// functions return their input tree itself, which makes a no-op cheap to
// detect (see Equal).
//
// # Invariants
//
// Branches are sorted by (Start, Root.ID) and children by ID, as
// engines.RevTree requires; every function here returns trees in that order
// and relies on it for its inputs. Merge also assumes what hashed revision
// ids guarantee: a revision's ancestors are determined by its id, so the
// same revision never has two different parents. Under that assumption a
// forest built by Merge never holds the same revision twice.
//
// # Goroutines
//
// The package has no state; any goroutine may call any function, and
// concurrent calls on the same (frozen) tree are safe.
package revtree
