// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// The kernel half of the knock source: an XDP program that keeps a spoofed
// flood from ever waking the daemon. See ../doc.go for the design; the
// record layouts below are mirrored in ../record.go.

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// QLEN is the length of a source's queue in stage 2: the longest minimum
// knock the program can wait for.
#define QLEN 32
#define PAYLOAD_MAX 512

enum kind { KIND_QUEUE = 1, KIND_HIT = 2, KIND_SPA = 3 };

// Counter indexes, in the order of counterNames in ../counters.go.
enum counter {
	C_PACKETS,      // packets the program ran on
	C_WATCHED,      // TCP SYNs and UDP datagrams to a watched port
	C_STAGE1,       // stage-1 inserts: sources seen once
	C_PROMOTIONS,   // sources seen twice within the timeout
	C_RING_EVENTS,  // records handed to userspace
	C_RING_FULL,    // records lost: the ring buffer was full
	C_SPA,          // datagrams to a single-packet port
	C_OVER_BUDGET,  // packets of a source past its budget, not handed
	C_DROPPED,      // span packets dropped (XDP_DROP)
	C_NCOUNTERS,
};

// Set by userspace before loading (CollectionSpec.Variables).
volatile const __u64 timeout_ns = 10000000000ULL;
volatile const __u32 min_knock = 8;
volatile const __u32 budget = 1024;
volatile const __u32 set_mask = 16383; // stage1's sets - 1
volatile const __u64 seed = 0;         // keys of the hash that picks a set:
volatile const __u64 seed2 = 0;        // random, drawn at load

struct addr {
	__u8 b[16]; // IPv6, or IPv4-mapped IPv6
};

struct entry {
	__u64 time;  // bpf_ktime_get_ns
	struct addr dst;
	__u16 port;
	__u8 proto;  // IPPROTO_TCP or IPPROTO_UDP
	__u8 pad[5];
};

struct queue {
	__u64 last;    // time of the latest packet
	__u64 window;  // start of the budget window
	__u32 head;    // packets queued in all (the next slot is head % QLEN)
	__u32 start;   // index of the oldest entry within the timeout
	__u32 spent;   // records handed in this budget window
	__u32 handed;  // the queue went to userspace; now each packet goes
	struct entry e[QLEN];
};

struct queue_event {
	__u32 kind;
	__u32 n;
	struct addr src;
	struct entry e[QLEN];
};

struct hit_event {
	__u32 kind;
	__u32 n;
	struct addr src;
	struct entry e;
};

struct spa_event {
	__u32 kind;
	__u32 len;  // payload bytes copied
	struct addr src;
	struct entry e;
	__u8 payload[PAYLOAD_MAX];
};

// Watched ports: one bit per port, TCP in words 0-1023, UDP in 1024-2047.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2048);
	__type(key, __u32);
	__type(value, __u64);
} span_ports SEC(".maps");

// Single-packet ports (UDP): one bit per port.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} spa_ports SEC(".maps");

// Stage 1: sources seen once, with their first packet. Churned by a flood,
// so it is no hash map (an insertion into an LRU hash costs about a
// microsecond under churn) but a set-associative table in an array: a
// source's keyed hash picks a set of WAYS slots, and its first packet takes
// the oldest of them. The slots' tags and times share one cache line.
#define WAYS 4

struct set {
	__u64 tag[WAYS];    // the source's keyed hash, or 0 for an empty slot
	__u64 time[WAYS];   // its first packet's time
	struct entry e[WAYS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384); // sets; set by userspace, a power of two
	__type(key, __u32);
	__type(value, struct set);
} stage1 SEC(".maps");

// Stage 2: sources seen twice within the timeout, with their queue.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct addr);
	__type(value, struct queue);
} stage2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

// A fresh queue, built on the stack would overflow it (512 bytes): one
// per-CPU scratch slot instead.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct queue);
} scratch SEC(".maps");

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	if (v)
		*v += 1;
}

static __always_inline int port_bit(void *map, __u32 word, __u16 port)
{
	__u64 *w = bpf_map_lookup_elem(map, &word);
	return w && (*w >> (port & 63)) & 1;
}

struct pkt {
	struct addr src;
	struct entry e;
	__u32 l4;     // offset of the transport header
	__u32 end;    // offset of the end of the IP packet
	int syn;      // a TCP SYN without ACK
};

static __always_inline void map4(struct addr *a, __be32 v4)
{
	__builtin_memset(a->b, 0, 10);
	a->b[10] = 0xff;
	a->b[11] = 0xff;
	__builtin_memcpy(&a->b[12], &v4, 4);
}

// parse fills p from an Ethernet frame; it returns 0 for anything that is
// not a TCP SYN or UDP datagram over IPv4 or IPv6.
static __always_inline int parse(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);
	if ((void *)(eth + 1) > end)
		return 0;
	__u16 proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < 2; i++) { // up to two VLAN tags
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		__be16 *tag = data + off;
		if ((void *)(tag + 2) > end)
			return 0;
		proto = tag[1];
		off += 4;
	}
	__u8 l4proto;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return 0;
		if (ip->frag_off & bpf_htons(0x1fff)) // not the first fragment
			return 0;
		map4(&p->src, ip->saddr);
		map4(&p->e.dst, ip->daddr);
		l4proto = ip->protocol;
		p->end = off + bpf_ntohs(ip->tot_len);
		off += ip->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		if ((void *)(ip6 + 1) > end)
			return 0;
		// No extension headers: a knock has none, and chasing them
		// costs more than it finds.
		__builtin_memcpy(p->src.b, &ip6->saddr, 16);
		__builtin_memcpy(p->e.dst.b, &ip6->daddr, 16);
		l4proto = ip6->nexthdr;
		p->end = off + sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		off += sizeof(*ip6);
	} else {
		return 0;
	}
	p->l4 = off;
	p->e.proto = l4proto;
	if (l4proto == IPPROTO_TCP) {
		struct tcphdr *tcp = data + off;
		if ((void *)(tcp + 1) > end)
			return 0;
		if (!tcp->syn || tcp->ack)
			return 0;
		p->e.port = bpf_ntohs(tcp->dest);
		p->syn = 1;
		return 1;
	}
	if (l4proto == IPPROTO_UDP) {
		struct udphdr *udp = data + off;
		if ((void *)(udp + 1) > end)
			return 0;
		p->e.port = bpf_ntohs(udp->dest);
		return 1;
	}
	return 0;
}

static __always_inline int spa(struct xdp_md *ctx, struct pkt *p)
{
	struct spa_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(C_RING_FULL);
		return 0;
	}
	__u32 off = p->l4 + sizeof(struct udphdr);
	__u32 pktlen = ctx->data_end - ctx->data;
	__u32 end = p->end < pktlen ? p->end : pktlen;
	__u32 len = end > off ? end - off : 0;
	if (len > PAYLOAD_MAX)
		len = PAYLOAD_MAX;
	if (len > 0 && bpf_xdp_load_bytes(ctx, off, ev->payload, len) < 0)
		len = 0;
	ev->kind = KIND_SPA;
	ev->len = len;
	ev->src = p->src;
	ev->e = p->e;
	bpf_ringbuf_submit(ev, 0);
	count(C_RING_EVENTS);
	return 1;
}

// hand sends one packet of a source whose queue userspace already has,
// within the source's budget.
static __always_inline void hand(struct pkt *p, struct queue *q)
{
	if (p->e.time - q->window > timeout_ns) {
		q->window = p->e.time;
		q->spent = 0;
	}
	if (q->spent >= budget) {
		count(C_OVER_BUDGET);
		return;
	}
	struct hit_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(C_RING_FULL);
		return;
	}
	ev->kind = KIND_HIT;
	ev->n = 1;
	ev->src = p->src;
	ev->e = p->e;
	bpf_ringbuf_submit(ev, 0);
	q->spent++;
	count(C_RING_EVENTS);
}

// flush hands the queue's entries within the timeout to userspace.
static __always_inline void flush(struct pkt *p, struct queue *q)
{
	struct queue_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(C_RING_FULL); // the queue stays; the next packet retries
		return;
	}
	__u32 n = 0;
#pragma unroll
	for (__u32 i = 0; i < QLEN; i++) {
		__u32 idx = q->start + i;
		if (idx >= q->head)
			break;
		ev->e[i] = q->e[idx % QLEN];
		n++;
	}
	ev->kind = KIND_QUEUE;
	ev->n = n;
	ev->src = p->src;
	bpf_ringbuf_submit(ev, 0);
	q->handed = 1;
	q->window = p->e.time;
	q->spent = 1;
	count(C_RING_EVENTS);
}

// push appends the packet to the queue, forgets entries older than the
// timeout, and hands the queue over once it could hold a knock.
static __always_inline void push(struct pkt *p, struct queue *q)
{
	q->e[q->head % QLEN] = p->e;
	q->head++;
	q->last = p->e.time;
	if (q->head - q->start > QLEN)
		q->start = q->head - QLEN;
#pragma unroll
	for (int i = 0; i < QLEN; i++) {
		if (q->start >= q->head)
			break;
		if (p->e.time - q->e[q->start % QLEN].time <= timeout_ns)
			break;
		q->start++;
	}
	if (q->head - q->start >= min_knock)
		flush(p, q);
}

// hash is a keyed hash of a source address (seed is random per load, so
// that a sender cannot aim its sources at one set).
static __always_inline __u64 hash(const struct addr *a)
{
	const __u64 *w = (const __u64 *)a->b;
	__u64 h = seed ^ w[0];
	h *= 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	h ^= w[1];
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	// The second key goes in after the address is mixed, so that no
	// difference between two addresses maps to sets the same way
	// whatever the keys (for IPv4 the first word is always 0).
	h += seed2;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 29;
	h *= 0x9e3779b97f4a7c15ULL;
	h ^= h >> 32;
	return h;
}

// stage2_packet handles a packet of a source whose queue is in stage 2.
static __always_inline void stage2_packet(struct pkt *p, struct queue *q)
{
	if (p->e.time - q->last > timeout_ns) {
		// Quiet for longer than a knock may take: start over.
		q->head = 0;
		q->start = 0;
		q->handed = 0;
	} else if (q->handed) {
		q->last = p->e.time;
		hand(p, q);
		return;
	}
	push(p, q);
}

// promote moves a source seen again within the timeout to stage 2, with
// the first packet that stage 1 kept for it (slot i of set s).
static __always_inline void promote(struct pkt *p, struct set *s, int i)
{
	struct queue *q = bpf_map_lookup_elem(&stage2, &p->src);
	if (q) {
		// Stage 2 still has the source, whose stage-1 slot was taken
		// by others since: its queue goes on, with both packets.
		struct pkt first = *p;
		first.e = s->e[i];
		stage2_packet(&first, q);
		stage2_packet(p, q);
		return;
	}
	__u32 zero = 0;
	q = bpf_map_lookup_elem(&scratch, &zero);
	if (!q)
		return;
	count(C_PROMOTIONS);
	q->e[0] = s->e[i];
	q->head = 1;
	q->start = 0;
	q->handed = 0;
	q->spent = 0;
	q->window = 0;
	q->last = s->time[i];
	push(p, q);
	bpf_map_update_elem(&stage2, &p->src, q, BPF_ANY);
}

// knock records a packet to the span. Stage 1 is the only lookup a flood
// packet costs: one array element, a few compares, no lock. A slot whose
// tag has PROMOTED set stands for a source in stage 2, is refreshed by each
// of its packets, and is not given to a first packet while it is within
// the timeout unless its whole set is such slots: a knock under way keeps
// its slot through a flood of new sources.
// Two CPUs writing one set at the same instant may tear a slot; the worst
// that does is lose, or garble, one source's first packet.
#define PROMOTED 1ULL

static __always_inline void knock(struct pkt *p)
{
	__u64 h = hash(&p->src);
	__u32 idx = (__u32)(h >> 32) & set_mask;
	struct set *s = bpf_map_lookup_elem(&stage1, &idx);
	if (!s)
		return;
	__u64 tag = (h & ~PROMOTED) | 2; // never 0, the empty slot
	// The slot a first packet takes: the oldest that does not stand for
	// a source in stage 2 heard from within the timeout (a knock under
	// way), or, if all do, the oldest of all.
	int hit = -1, old = -1, oldest = 0;
#pragma unroll
	for (int i = 0; i < WAYS; i++) {
		if ((s->tag[i] & ~PROMOTED) == tag)
			hit = i;
		if (s->time[i] < s->time[oldest])
			oldest = i;
		int busy = (s->tag[i] & PROMOTED) && p->e.time - s->time[i] <= timeout_ns;
		if (!busy && (old < 0 || s->time[i] < s->time[old & (WAYS - 1)]))
			old = i;
	}
	if (old < 0)
		old = oldest;
	int i = (hit < 0 ? old : hit) & (WAYS - 1);
	if (hit >= 0 && (s->tag[i] & PROMOTED)) {
		struct queue *q = bpf_map_lookup_elem(&stage2, &p->src);
		if (q) {
			s->time[i] = p->e.time;
			stage2_packet(p, q);
			return;
		}
		// Stage 2 let it go: this is a first packet again.
	} else if (hit >= 0 && p->e.time - s->time[i] <= timeout_ns) {
		promote(p, s, i);
		s->tag[i] = tag | PROMOTED;
		s->time[i] = p->e.time;
		return;
	}
	s->tag[i] = tag;
	s->time[i] = p->e.time;
	s->e[i] = p->e;
	count(C_STAGE1);
}

SEC("xdp")
int knock_xdp(struct xdp_md *ctx)
{
	struct pkt p = {};
	count(C_PACKETS);
	if (!parse(ctx, &p))
		return XDP_PASS;
	__u32 word = p.e.port >> 6;
	int span = port_bit(&span_ports, (p.syn ? 0 : 1024) + word, p.e.port);
	int single = !p.syn && port_bit(&spa_ports, word, p.e.port);
	if (!span && !single)
		return XDP_PASS;
	count(C_WATCHED);
	p.e.time = bpf_ktime_get_ns();
	if (single) {
		count(C_SPA);
		spa(ctx, &p);
	} else {
		knock(&p);
	}
	if (!span)
		return XDP_PASS;
	count(C_DROPPED);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
