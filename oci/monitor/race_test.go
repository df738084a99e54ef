//go:build race

package monitor

// The monitor binaries the tests build get the race detector too.
func init() { raceFlags = []string{"-race"} }
