//go:build unix && !linux

package sender

// dropIncoming is Linux's socket filter; elsewhere a SYN-ACK that comes
// back before the socket is closed may still be acknowledged.
func dropIncoming(int) error { return nil }

// sockFlags: SOCK_CLOEXEC is Linux's; the socket lives for microseconds.
const sockFlags = 0
