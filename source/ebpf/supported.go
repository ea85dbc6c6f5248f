package ebpf

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

// ErrNotSupported is wrapped by Supported's errors: the daemon falls back
// to the packet socket.
var ErrNotSupported = errors.New("the ebpf source cannot run here")

// Supported reports why this process cannot run the source, or nil: not
// root (no CAP_BPF and CAP_NET_ADMIN), a kernel without XDP links, BPF
// ring buffers or bpf_xdp_load_bytes (Linux 5.18 and later have all
// three), or a program the kernel's verifier refuses. It loads the program once, with small maps, and frees
// it; it attaches nothing. The kernel needs no BTF: the program uses no
// CO-RE relocations.
func Supported() error {
	if err := features.HaveProgramType(ebpf.XDP); err != nil {
		return fmt.Errorf("%w: XDP programs: %w", ErrNotSupported, explain(err))
	}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		return fmt.Errorf("%w: BPF ring buffers (Linux 5.8): %w", ErrNotSupported, explain(err))
	}
	if err := features.HaveProgramHelper(ebpf.XDP, asm.FnXdpLoadBytes); err != nil {
		return fmt.Errorf("%w: bpf_xdp_load_bytes, to copy single-packet payloads (Linux 5.18): %w", ErrNotSupported, explain(err))
	}
	spec, err := Config{UDP: []uint16{1}, MinKnock: 2, Timeout: 1,
		Stage1: 16, Stage2: 16, Ring: os.Getpagesize()}.spec()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	var objs knockObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return fmt.Errorf("%w: loading the program: %w", ErrNotSupported, explain(err))
	}
	return objs.Close()
}

// explain adds a hint to the errors an operator can fix.
func explain(err error) error {
	switch {
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w (needs root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)", err)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%w (kernel too old: Linux 5.18 or later is needed)", err)
	}
	return err
}
