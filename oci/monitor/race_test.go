//go:build race

package monitor

// The monitor binaries the tests build get the race detector too. Such a binary sleeps
// a second at its exit (GORACE's atexit_sleep_ms), longer than Spares.Close waits for
// a spare to be gone: a built crid-monitor has no race detector.
func init() {
	raceFlags = []string{"-race"}
	monitorEnv = append(monitorEnv[:len(monitorEnv):len(monitorEnv)], "GORACE=atexit_sleep_ms=0")
}
