//go:build !race

package fault

// raceEnabled: the tests run without -race; so is the binary under test.
const raceEnabled = false
