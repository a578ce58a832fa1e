// Package sqlstore is the half of the SQL stores (broker/store/postgres and
// broker/store/sqlite) that is not SQL: what the two backends would
// otherwise each write out the same way.
//
// It owns
//   - the column lists of the tables both schemas share, and in the same
//     order, how a model becomes the arguments of an INSERT of those columns
//     (Codec's ...Args) and how a row of them becomes a model (Codec's
//     Scan...);
//   - how list fields are kept: one space-separated text column
//     (JoinList, SplitList, ClientLists);
//   - the shape of store errors: "<backend>: <op>: ..." wrapping a broker
//     sentinel with %w (Errors), and "no row matched" as broker.ErrNotFound
//     (Errors.AffectedOne).
//
// It owns no SQL text and no driver: each backend writes its own statements,
// says how it keeps a time (Times: timestamptz, or Unix milliseconds) and
// decides from its own driver's codes what an error means (a Classify func
// returning a Kind).
package sqlstore
