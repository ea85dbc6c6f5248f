package ebpf

// The compiled program is committed (knock_bpf{el,eb}.o and .go), so
// that building the daemon needs no clang. After changing bpf/knock.c, run
// go generate ./source/ebpf; TestObjectMatchesSource fails when the
// committed object was not rebuilt from the committed source.
//
// The include directories cover the multiarch headers (asm/types.h) of the
// common Debian architectures; clang skips those that do not exist.

//go:generate go tool bpf2go -cc clang-14 -strip llvm-strip-14 -target bpfel,bpfeb -output-stem knock knock bpf/knock.c -- -O2 -mcpu=v3 -Wall -Werror -idirafter /usr/include/x86_64-linux-gnu -idirafter /usr/include/aarch64-linux-gnu
