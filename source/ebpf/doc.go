// Package ebpf is the knock source of capture = ebpf: its first stage runs
// in the kernel, as an XDP program (bpf/knock.c) on every watched
// interface, so that a spoofed flood to the knock span never wakes the
// daemon.
//
// # What the kernel does
//
// The program parses Ethernet (up to two VLAN tags), IPv4 (first fragments
// only) and IPv6 (no extension headers), and looks at TCP SYNs without ACK
// and UDP datagrams. Everything else passes (XDP_PASS). A packet to a
// watched port (a bitmap of 65536 ports per protocol, in an array map: the
// span, plus the ports of Config.TCP and Config.UDP) is recorded and
// dropped (XDP_DROP): the host never answers a knock. A UDP datagram to a
// single-packet port (Config.SPAPorts) goes to userspace at once with up to
// PayloadMax bytes of its payload; it passes, unless its port is also
// watched.
//
// A knock is several packets from one source within the knock timeout; a
// spoofed flood sends one or two per address. So:
//
//   - Stage 1 (Config.Stage1 slots) remembers a source seen once: the
//     time, port and destination of its first packet. A flood churns it,
//     so it is a set-associative table in an array map, not a hash map:
//     a keyed hash of the source (two keys, random per load) picks a set
//     of Ways slots, a first packet takes the set's oldest slot not held
//     by a knock under way (see stage 2), and a flood
//     packet costs one array element and no lock (an LRU hash insertion
//     under churn cost 0.7-1 µs, this 0.2). A knocker's next packet comes
//     milliseconds later; its first is lost only if Ways newer sources
//     land in its set in between (on average Ways × sets / rate: 330 ms at
//     100,000 packets/s with the default 32768 slots).
//   - Stage 2 (an LRU hash, Config.Stage2 entries) holds sources seen
//     again within the timeout, with a queue of their last QueueLen
//     packets and their times. A random-address flood rarely reaches it:
//     an address must come twice within the timeout while still in stage
//     1. The source's stage-1 slot stays, marked promoted and refreshed by
//     each of its packets, so that only a promoted source costs a hash
//     lookup. A first packet never takes a promoted slot heard from within
//     the timeout unless its whole set is such slots, so a flood of new
//     sources cannot push a knock under way out of stage 1 between two of
//     its packets. If its slot is taken all the same, the source's next
//     packet starts in stage 1 again, and the one after finds its queue in
//     stage 2 and goes on with both.
//   - When a source's queue holds Config.MinKnock packets within the
//     timeout, the whole queue goes to userspace in one ring buffer record,
//     and from then on each further packet, one record each, until the
//     source is quiet for a timeout.
//
// A flood from a small prefix (a /24 sending again and again) does reach
// stage 2 and does reach userspace. Two bounds keep it from starving real
// knocks: stage 2 is an LRU, so a knocker, who sends its packets within
// milliseconds, is among the most recently used entries while it knocks
// and is evicted only by more than Config.Stage2 other sources promoted in
// between (a /24 has 256); and each source has a budget of Config.Budget
// records per timeout after its queue, so one address cannot fill the ring
// buffer, and a prefix of N addresses costs userspace at most N×(1+Budget)
// records per timeout. Packets past the budget are dropped and counted
// (over_budget). There is deliberately no budget per prefix: it would let
// an attacker who spoofs a knocker's own /24 use up the prefix's budget
// and lock the knocker out, while a /24 costs userspace at most 256×(1+
// Budget) records per timeout anyway. The default budget, 1024 records,
// lets one address knock again 30 to 60 times within a timeout (a
// client's retries, a knock per port; 64, the first default, cut a fourth
// knock of 20 packets short); a /24 then costs userspace at most about 26,000 records a
// second at a 10 s timeout, some 5 ms of CPU a second at 200 ns a record.
//
// A flood that sends two packets from every spoofed address promotes every
// address and churns stage 2; none of them reaches the minimum, so none
// is handed up, but each evicts a stage-2 entry. A knock survives it as
// long as its packets come closer together than the time the flood takes
// to promote Stage2 sources (4096 sources: 40 ms at 200,000 packets/s), which
// a knock client sending its packets back to back does; the tests send
// such a flood. A slow knock under such a flood is lost; the promotions
// counter shows the flood. So are the packets of a knock longer than
// MinKnock whose stage-2 entry is evicted after its queue went up: they
// start again in stage 1, and reach userspace only if they again make up
// MinKnock within the timeout.
//
// A stage-2 queue is updated in place without a lock: two packets of one
// source handled at the same instant on two CPUs (receive queues) may lose
// one of them from the queue. A knock client sends its packets one after
// another, microseconds apart, and the program handles one in about 200 ns.
//
// The program reads Ethernet frames: New refuses an interface without an
// Ethernet header (tun, WireGuard), where the packet socket still works.
//
// # Userspace
//
// New loads the program and attaches it to every interface of the calling
// thread's network namespace (natively where the driver supports XDP,
// generic otherwise: see Attachments); Run reads the ring buffer, turns
// records into source.Hit values (a queue becomes its hits in order, each
// with its own time), and detaches when it returns. Supported says why the
// source cannot run here, so that the daemon can fall back to the packet
// socket (source/afpacket) and say so.
//
// Span hits carry no payload; single-packet hits carry theirs. Sources are
// IPv6 addresses, or IPv4 as 4-byte addresses.
package ebpf
