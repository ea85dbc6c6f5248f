package sealed

import (
	"bytes"
	"fmt"
)

// SPAMagic starts every single-packet-authorization datagram: "KNK" and
// the framing version. Random traffic to the SPA port fails it at the
// cost of a 4-byte compare.
const SPAMagic = "KNK\x01"

// MarshalSPA frames a sealed message as a UDP payload: SPAMagic, then the
// message, nothing after.
func MarshalSPA(msg []byte) []byte {
	return append([]byte(SPAMagic), msg...)
}

// ParseSPA unframes a UDP payload, checking the magic and that the length
// is the one the header announces, and returns the message for OpenFrom
// with the datagram's source address. Errors wrap ErrMalformed.
func ParseSPA(datagram []byte) ([]byte, error) {
	msg, ok := bytes.CutPrefix(datagram, []byte(SPAMagic))
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: datagram does not start with the SPA magic", ErrMalformed)
	case len(msg) == 0:
		return nil, fmt.Errorf("%w: SPA datagram holds no message", ErrMalformed)
	case SizeOf(msg[0]) != len(msg):
		return nil, fmt.Errorf("%w: SPA datagram holds %d bytes after the magic, and header %#02x announces %d", ErrMalformed, len(msg), msg[0], SizeOf(msg[0]))
	}
	return msg, nil
}
