// Package memengine is an in-memory storage engine: name "mem", extension
// ".mem". It is the reference implementation of the engines contract and the
// oracle of the differential tests in engines/enginetest.
//
// Databases live in a process-wide registry keyed by path, so a database
// opened again after Close in the same process sees what was committed;
// uncommitted writes are dropped on Close, as a crash would drop them. Nothing
// touches the disk.
//
// Each open DB keeps two copies of its state: the working state that reads
// and folds see (every WriteDocInfos is visible at once) and the committed
// state in the registry. Writes are recorded as a redo log that Commit replays
// onto the committed state, so a commit costs what the batch costs, not what
// the database holds. Stored values are immutable once stored, so folds copy
// pointers under a read lock and call back without holding it.
package memengine
