package api

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes to the frame decoder the monitor and the daemon
// read each other with: it never panics, never returns a payload over MaxFrame, and every
// frame it accepts re-encodes to exactly the bytes it consumed. A JSON frame decodes into
// a Request or fails, never panics.
func FuzzReadFrame(f *testing.F) {
	frame := func(typ byte, payload string) []byte {
		var b bytes.Buffer
		if err := WriteFrame(&b, typ, []byte(payload)); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	f.Add(frame(FrameJSON, `{"op":"create","id":"c1","spec":{"ociVersion":"1.2.0","process":{"args":["sh"],"cwd":"/"}}}`))
	f.Add(append(frame(FrameStdin, "hello"), frame(FrameEOF, "")...))
	f.Add(frame(FrameResize, "\x00\x50\x00\x18"))
	f.Add(frame(FrameExit, "\x00\x00\x00\x01"))
	f.Add([]byte{0, 0, 0, 0, 'j'})                     // length 0
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'j'})         // far over MaxFrame
	f.Add([]byte{0, 0x40, 0, 1, 'j', '{'})             // MaxFrame+1
	f.Add([]byte{0, 0, 0, 9, 'j', '{', '"', 'o', 'p'}) // truncated
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var buf []byte
		consumed := 0
		for {
			typ, p, nb, err := ReadFrame(r, buf)
			buf = nb
			if err != nil {
				break
			}
			if len(p)+1 > MaxFrame {
				t.Fatalf("payload of %d bytes accepted", len(p))
			}
			var again bytes.Buffer
			if err := WriteFrame(&again, typ, p); err != nil {
				t.Fatalf("accepted frame does not re-encode: %v", err)
			}
			end := consumed + 5 + len(p)
			if !bytes.Equal(again.Bytes(), data[consumed:end]) {
				t.Fatalf("frame at %d re-encodes differently", consumed)
			}
			if binary.BigEndian.Uint32(data[consumed:]) != uint32(len(p)+1) {
				t.Fatalf("length field disagrees with the payload")
			}
			consumed = end
			if typ == FrameJSON {
				var req Request
				_ = json.Unmarshal(p, &req)
			}
		}
		var req Request
		_ = ReadJSON(bytes.NewReader(data), &req)
	})
}

// FuzzParseHandover feeds arbitrary text to the decoder of the Go/C switch's handover:
// it never panics, and what it accepts encodes to text that decodes to the same
// encoding (one spelling per handover, so the two bodies agree on its meaning).
func FuzzParseHandover(f *testing.F) {
	b, err := sampleHandover().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("crid-handover 1\nlistener 3\nend\n"))
	f.Add([]byte("crid-handover 1\nlistener 3\nctr c1 status=stopped x=%41\npending c1 stderr 1\n\n\nend\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHandover(data)
		if err != nil {
			return
		}
		enc, err := h.Marshal()
		if err != nil {
			t.Fatalf("accepted handover does not encode: %v", err)
		}
		h2, err := ParseHandover(enc)
		if err != nil {
			t.Fatalf("encoding does not decode: %v\n%s", err, enc)
		}
		enc2, err := h2.Marshal()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable (%v):\n%s\n---\n%s", err, enc, enc2)
		}
	})
}
