package engines

// BodyEncoder is implemented by DBs whose engine transforms a body before
// storing it (couchfile compresses it). The updater writes every body of a
// group one after the other; with the transformation split off, writers
// do it on their own goroutines, in parallel, before their request
// reaches the updater, and the updater only appends.
//
//   - EncodeDocBody returns body as the engine stores it. It depends on
//     nothing but body: any goroutine may call it at any time, also on a
//     DB that is closed, and its result is valid for every DB of the same
//     engine. It does not keep body.
//   - WriteEncodedDocBody is WriteDocBody for a body EncodeDocBody
//     returned, with the same results and the same contract (updater
//     only). It refuses, with an error wrapping ErrInvalidWrite, bytes it
//     can tell did not come from EncodeDocBody.
type BodyEncoder interface {
	EncodeDocBody(body []byte) []byte
	WriteEncodedDocBody(enc []byte) (ptr, size uint64, err error)
}
