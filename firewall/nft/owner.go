package nft

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/portknock/knock/internal/netns"
	"golang.org/x/sys/unix"
)

// ErrTableInUse refuses an own table that another live process keeps: two
// daemons sharing one table would rewrite each other's protected ports
// and chains at every check, each undoing the other.
var ErrTableInUse = errors.New("the table is in use by another knockdaemon")

// A process holds its own table by binding an abstract unix socket named
// after it, "knockdaemon/nft/FAMILY/TABLE". Abstract socket names belong
// to the network namespace, as the table does, so daemons in other
// namespaces never collide; the kernel frees the name when the process
// exits, however it exits (SIGKILL included), so there is no stale lock
// to clean up, no pid that may be reused, and nothing written into the
// ruleset the administrator reads. A second process that fails to bind
// the name connects to it and learns the holder's pid from SO_PEERCRED,
// for the error message. Backends of one process share the claim: a
// reload builds a new backend for the same table.
var claims struct {
	sync.Mutex
	held map[string]*net.UnixListener // by namespace inode and name
}

// claim makes this process the table's holder, or says which process is.
func (b *Backend) claim() error {
	name := "@knockdaemon/nft/" + b.cfg.Family + "/" + b.cfg.Table
	ns, err := netnsInode(b.cfg.NetNSFd)
	if err != nil {
		return fmt.Errorf("identifying the network namespace: %w", err)
	}
	key := fmt.Sprintf("%d %s", ns, name)
	claims.Lock()
	defer claims.Unlock()
	if claims.held[key] != nil {
		return nil
	}
	var ln *net.UnixListener
	err = inNetNS(b.cfg.NetNSFd, func() (err error) {
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
		return err
	})
	if errors.Is(err, syscall.EADDRINUSE) {
		holder := "another process"
		if pid := holderPID(b.cfg.NetNSFd, name); pid > 0 {
			holder = fmt.Sprintf("pid %d", pid)
		}
		return fmt.Errorf("%w (%s holds %s): give this daemon its own nfttable", ErrTableInUse, holder, b.where())
	}
	if err != nil {
		return fmt.Errorf("claiming table %s: %w", b.where(), err)
	}
	if claims.held == nil {
		claims.held = map[string]*net.UnixListener{}
	}
	claims.held[key] = ln
	return nil
}

// holderPID asks the kernel who listens on the abstract name; 0 if that
// cannot be known.
func holderPID(fd int, name string) int32 {
	var pid int32
	inNetNS(fd, func() error {
		c, err := net.DialTimeout("unix", name, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		raw, err := c.(*net.UnixConn).SyscallConn()
		if err != nil {
			return err
		}
		return raw.Control(func(s uintptr) {
			if cred, err := unix.GetsockoptUcred(int(s), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
				pid = cred.Pid
			}
		})
	})
	return pid
}

// netnsInode identifies a network namespace: fd's, or this process's.
func netnsInode(fd int) (uint64, error) {
	var st unix.Stat_t
	if fd != 0 {
		err := unix.Fstat(fd, &st)
		return st.Ino, err
	}
	err := unix.Stat("/proc/self/ns/net", &st)
	return st.Ino, err
}

// inNetNS runs f on a thread in the namespace fd (0: this one). A socket
// f opens stays in that namespace.
func inNetNS(fd int, f func() error) error {
	if fd == 0 {
		return f()
	}
	return netns.InFd(fd, f)
}
