package sandbox

// RelaySizes converts terminal sizes from in until in closes or stop is called. The
// goroutine always ends with the stream it serves, never left blocked on a channel nobody
// closes (CVE-2022-23471). A nil in gives a nil channel.
func RelaySizes[A, B any](in <-chan A, conv func(A) B) (out <-chan B, stop func()) {
	if in == nil {
		return nil, func() {}
	}
	ch := make(chan B, 1)
	done := make(chan struct{})
	go func() {
		defer close(ch)
		for {
			select {
			case <-done:
				return
			case v, ok := <-in:
				if !ok {
					return
				}
				select {
				case ch <- conv(v):
				case <-done:
					return
				}
			}
		}
	}()
	return ch, func() { close(done) }
}
