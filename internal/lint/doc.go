// Package lint holds tests that keep the project's shape: the dependency
// direction of design.md §2. It has no non-test code.
package lint
