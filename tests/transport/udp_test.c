/* SPDX-License-Identifier: MIT */
/*
 * udp_test.c - what is particular to udp://: loss and reordering are
 * counted in the stats (a raw peer process sends sequence numbers out of
 * order), a stray datagram is refused, the size limit fits a datagram,
 * a peer that closes says BYE, a killed peer is noticed through ICMP
 * port unreachable once we send to it, and IPv6. Malformed datagrams
 * (short, bad magic, version or kind, over maxmsg) are refused one by one.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "../test.h"

static pid_t child;

static void
cleanup(void)
{
	if (child > 0)
		kill(child, SIGKILL), waitpid(child, NULL, 0);
	child = 0;
}

static void
put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static size_t
dgram(unsigned char *d, int kind, uint32_t type, uint64_t seq,
    const char *payload)
{
	d[0] = 'I';
	d[1] = 'U';
	d[2] = 1;
	d[3] = (unsigned char)kind;
	put_be(d + 4, type, 4);
	put_be(d + 8, seq, 8);
	size_t n = strlen(payload);
	memcpy(d + 16, payload, n);
	return 16 + n;
}

/* The raw peer: HELLO, take the WELCOME's source, then send datagrams
 * with sequence numbers 1, 3, 2, 6, a stray one, then BYE. */
static int
raw_peer(unsigned port)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	unsigned char d[256];
	size_t n = dgram(d, 1, 0, 0x1234, "");
	if (sendto(s, d, n, 0, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 1;
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t r = recvfrom(s, d, sizeof(d), 0, (struct sockaddr *)&from, &fl);
	if (r != 18 || d[3] != 2)
		return 2;
	if (connect(s, (struct sockaddr *)&from, fl) < 0)
		return 3;
	static const struct {
		uint64_t seq;
		const char *p;
	} seqs[] = {{1, "a"}, {3, "c"}, {2, "b"}, {6, "f"}};
	for (size_t i = 0; i < 4; i++) {
		n = dgram(d, 0, (uint32_t)(10 + i), seqs[i].seq, seqs[i].p);
		if (send(s, d, n, 0) < 0)
			return 4;
	}
	if (send(s, "garbage", 7, 0) < 0)
		return 5;
	n = dgram(d, 0, 99, 7, "g");
	if (send(s, d, n, 0) < 0)
		return 5;
	n = dgram(d, 3, 0, 8, "");
	if (send(s, d, n, 0) < 0)
		return 6;
	close(s);
	return 0;
}

static void
expect(struct ipk_chan *c, const char *s, uint32_t type)
{
	char buf[64];
	size_t len = 0;
	uint32_t t = 0;
	T_OK(ipk_recv(c, buf, sizeof(buf) - 1, &len, &t, 10000));
	buf[len] = '\0';
	if (strcmp(buf, s) != 0)
		T_FAILF("expected '%s', got '%s'", s, buf);
	T_EQ(t, type);
}

static int
case_seq(void)
{
	struct ipk_listener *l;
	T_OK(ipk_listen("udp://127.0.0.1:0", NULL, &l));
	unsigned port = (unsigned)atoi(strrchr(ipk_listener_url(l), ':') + 1);
	child = fork();
	T_ASSERT(child >= 0);
	if (child == 0)
		_exit(raw_peer(port));
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 10000, &c));
	expect(c, "a", 10);
	expect(c, "c", 11);
	struct ipk_stats st;
	T_OK(ipk_stats(c, &st));
	T_EQ(st.gaps, 1);
	T_EQ(st.reordered, 0);
	expect(c, "b", 12);
	T_OK(ipk_stats(c, &st));
	T_EQ(st.gaps, 0);
	T_EQ(st.reordered, 1);
	expect(c, "f", 13);
	char buf[16];
	size_t len;
	uint32_t t;
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000), -EBADMSG);
	expect(c, "g", 99);
	T_OK(ipk_stats(c, &st));
	T_EQ(st.gaps, 2);
	T_EQ(st.reordered, 1);
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000), IPK_ECLOSED);
	int ws;
	T_ASSERT(waitpid(child, &ws, 0) == child);
	child = 0;
	T_ASSERT(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	ipk_close(c);
	ipk_listener_close(l);
	return T_PASS;
}

#define LONGER "a message longer than the ten-byte buffer"

/* The raw peer of case_garbage: after the handshake, each malformed
 * datagram (one field wrong at a time) is followed by a good one. */
static int
garbage_peer(unsigned port)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	unsigned char d[512];
	size_t n = dgram(d, 1, 0, 0x4321, "");
	if (sendto(s, d, n, 0, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 1;
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t r = recvfrom(s, d, sizeof(d), 0, (struct sockaddr *)&from, &fl);
	if (r != 18 || d[3] != 2 ||
	    connect(s, (struct sockaddr *)&from, fl) < 0)
		return 2;
	uint64_t seq = 1;
	for (int g = 0; g < 4; g++) {
		n = dgram(d, 0, 1, seq++, "bad");
		if (g == 0)
			n = 7; /* shorter than the header */
		else if (g == 1)
			d[0] = 'X';
		else if (g == 2)
			d[2] = 2; /* version */
		else
			d[3] = 9; /* kind */
		if (send(s, d, n, 0) < 0)
			return 3;
		n = dgram(d, 0, 2, seq++, "ok");
		if (send(s, d, n, 0) < 0)
			return 3;
	}
	/* Over the receiver's maxmsg=100, then one for a small buffer. */
	static char big[201];
	memset(big, 'b', 200);
	n = dgram(d, 0, 3, seq++, big);
	if (send(s, d, n, 0) < 0)
		return 4;
	n = dgram(d, 0, 4, seq++, LONGER);
	if (send(s, d, n, 0) < 0)
		return 4;
	close(s);
	return 0;
}

/* Malformed datagrams are refused one by one (-EBADMSG) and the channel
 * carries on; a datagram over maxmsg is dropped; one over the buffer
 * stays queued. */
static int
case_garbage(void)
{
	struct ipk_listener *l;
	struct ipk_opts o = {.max_msg = 100};
	T_OK(ipk_listen("udp://127.0.0.1:0", &o, &l));
	unsigned port = (unsigned)atoi(strrchr(ipk_listener_url(l), ':') + 1);
	child = fork();
	T_ASSERT(child >= 0);
	if (child == 0)
		_exit(garbage_peer(port));
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 10000, &c));
	char buf[512];
	size_t len;
	uint32_t t;
	for (int g = 0; g < 4; g++) {
		int rv = ipk_recv(c, buf, sizeof(buf), &len, &t, 10000);
		if (rv != -EBADMSG)
			T_FAILF(
			    "malformed datagram %d: %d, want -EBADMSG", g, rv);
		expect(c, "ok", 2);
	}
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000), -EMSGSIZE);
	char *small = malloc(10); /* exact size: ASan sees an overrun */
	T_ASSERT(small);
	T_ERR(ipk_recv(c, small, 10, &len, &t, 10000), -EMSGSIZE);
	free(small);
	T_EQ(len, strlen(LONGER));
	expect(c, LONGER, 4);
	int ws;
	T_ASSERT(waitpid(child, &ws, 0) == child);
	child = 0;
	T_ASSERT(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	ipk_close(c);
	ipk_listener_close(l);
	return T_PASS;
}

/* An ipckit dialer in a child: echoes one message, then waits to die. */
static int
dial_peer(const char *url)
{
	struct ipk_chan *c;
	struct ipk_opts o = {.timeout_ms = 10000};
	if (ipk_dial(url, &o, &c) < 0)
		return 1;
	static unsigned char buf[70000];
	size_t len;
	uint32_t t;
	if (ipk_recv(c, buf, sizeof(buf), &len, &t, 10000) < 0 ||
	    ipk_send(c, buf, len, t, 10000) < 0)
		return 2;
	for (;;)
		pause();
}

static int
limit_and_death(const char *lurl, size_t want_max)
{
	struct ipk_listener *l;
	T_OK(ipk_listen(lurl, NULL, &l));
	char url[300];
	snprintf(url, sizeof(url), "%s", ipk_listener_url(l));
	child = fork();
	T_ASSERT(child >= 0);
	if (child == 0)
		_exit(dial_peer(url));
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 10000, &c));
	size_t max = ipk_max_msg(c);
	T_EQ(max, want_max);
	static unsigned char buf[70000];
	t_fill(buf, max, 7, 7);
	int rv = ipk_send(c, buf, max + 1, 1, 1000);
	T_ERR(rv, -EMSGSIZE);
	fprintf(stderr, "over the limit: %s\n", ipk_strerror(rv));
	T_OK(ipk_send(c, buf, max, 5, 10000));
	size_t len;
	uint32_t t;
	memset(buf, 0, sizeof(buf));
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000));
	T_EQ(len, max);
	T_EQ(t, 5);
	T_ASSERT(t_check(buf, len, 7, 7));

	/* Killed: nothing tells us, until a datagram meets the closed port
	 * and the kernel's ICMP answer comes back as ECONNREFUSED. */
	kill(child, SIGKILL);
	T_ASSERT(waitpid(child, NULL, 0) == child);
	child = 0;
	rv = ipk_send(c, "x", 1, 0, 1000);
	if (rv != 0 && rv != IPK_ECLOSED)
		T_FAILF("send to a dead peer: %s", ipk_strerror(rv));
	int64_t t0 = t_now_ns();
	rv = ipk_recv(c, buf, sizeof(buf), &len, &t, 5000);
	T_ERR(rv, IPK_ECLOSED);
	fprintf(stderr, "dead peer: %s (%.1f ms after a send)\n",
	    ipk_strerror(rv), t_ms_since(t0));
	ipk_close(c);
	ipk_listener_close(l);
	return T_PASS;
}

static int
case_limit(void)
{
	return limit_and_death("udp://127.0.0.1:0", 65507 - 16);
}

static int
case_ipv6(void)
{
	int s = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 a = {
	    .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (s >= 0)
		close(s);
	if (!ok)
		T_SKIPF("no IPv6 loopback here");
	return limit_and_death("udp://[::1]:0", 65527 - 16);
}

int
main(int argc, char **argv)
{
	t_watchdog(60);
	t_cleanup_hook = cleanup;
	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {
	    {"seq", case_seq},
	    {"garbage", case_garbage},
	    {"limit", case_limit},
	    {"ipv6", case_ipv6},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		int rv = cases[i].fn();
		cleanup();
		if (rv != T_PASS)
			return rv;
		printf("PASS udp %s\n", cases[i].name);
	}
	return T_PASS;
}
