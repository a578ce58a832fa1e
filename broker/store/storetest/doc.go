// Package storetest is the one conformance suite every broker.Store passes.
//
// A backend's test hands Run a constructor for a fresh, empty, migrated store;
// Run executes each case against its own store, so cases never see each
// other's rows. The suite is the executable form of the comments in
// broker/store.go: where those comments leave a choice open, the case that
// settles it says so.
package storetest
