//go:build !race

package main

// raceEnabled: the tests run without -race; so is the binary under test.
const raceEnabled = false
