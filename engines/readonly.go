package engines

// ReadOnlyOpener is implemented by engines that can open a database's
// committed state without writing anything to the disk. dbcore uses it to
// keep a database readable while its storage fails: after a failed commit
// the read-write Open may not complete until the disk recovers (it has a
// log to flush or a header to fsync), but what was committed can still be
// read.
//
// The contract of OpenReadOnly:
//
//   - It writes, syncs, truncates, creates, renames and deletes nothing: a
//     read-only or failing file system must not stop it, and no file of the
//     database changes because of it. The DB it returns writes nothing
//     either, Close included.
//   - It takes no lock of its own. The caller guarantees exclusion from
//     other processes (dbcore holds the data directory's lock); within the
//     process it may run while a read-write Open or DB of the same path is
//     in progress, which is why it must leave every file as it finds it.
//   - It fails with ErrNotFound if there is no database at path, like Open.
//   - The returned DB answers every getter, read and fold (any goroutine)
//     with the state a read-write Open would recover from the files at that
//     moment: every committed write, and nothing held only in another
//     handle's memory. It never changes afterwards, even if another handle
//     commits. Every write, setter and Commit fails with an error wrapping
//     ErrReadOnly, and so do StartCompaction and WriteAttachment where the
//     DB has them. Close releases it.
//
// Any goroutine may call OpenReadOnly.
type ReadOnlyOpener interface {
	OpenReadOnly(path string) (DB, error)
}
