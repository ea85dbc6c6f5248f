package sender

import "golang.org/x/sys/unix"

// dropIncoming attaches a socket filter that accepts nothing: the kernel
// runs it on every segment for the socket before TCP sees it, so a
// SYN-ACK is discarded instead of answered. Any process may attach one.
func dropIncoming(fd int) error {
	drop := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: uint16(len(drop)), Filter: &drop[0]})
}

// sockFlags are added to a socket's type: no descriptor leaks into a
// program started meanwhile.
const sockFlags = unix.SOCK_CLOEXEC
