/* SPDX-License-Identifier: MIT */
/*
 * pattern_test.c - pattern channels against hostile peers: a plain unix
 * channel (ipckit framing, no pattern) sends what no pub, req or rep
 * would - a message shorter than the sequence header, a sequence that goes
 * back, a reply without a request id, a request without one. The pattern
 * end must drop that peer, deliver nothing of it, and serve the others.
 * One case per check of core/pattern.c (tests/negative switches each off
 * and requires this program to fail).
 */
#include "../test.h"

static char base[256], url[320];
static struct ipk_chan *pc, *hostile, *good;
static struct ipk_listener *pl;

static void
cleanup(void)
{
	ipk_close(hostile);
	ipk_close(good);
	ipk_close(pc);
	ipk_listener_close(pl);
	hostile = good = pc = NULL;
	pl = NULL;
}

static void
reset(int k)
{
	cleanup();
	snprintf(base, sizeof(base), "unix:///tmp/%s-%d", t_unique(), k);
}

static void
plain_dial(struct ipk_chan **c)
{
	struct ipk_opts o = {.timeout_ms = 5000};
	int n0 = pc ? ipk_npeers(pc) : 0;
	T_OK(ipk_dial(base, &o, c));
	/* A binder admits its peers inside its own calls (and only then
	 * says its limit, which a first send waits for): let it. */
	int64_t t0 = t_now_ns();
	while (pc && ipk_npeers(pc) <= n0 && t_ms_since(t0) < 5000) {
		struct ipk_pollitem it = {.chan = pc, .events = IPK_POLLIN};
		(void)ipk_poll(&it, 1, 1);
	}
}

/* The hostile peer's connection is closed by the pattern end. */
static void
expect_dropped(struct ipk_chan *c)
{
	char b[16];
	size_t n;
	int rv;
	int64_t end = t_now_ns() + 5000000000ll;
	do {
		T_ASSERT(t_now_ns() < end);
		/* The pattern end runs when polled. */
		struct ipk_pollitem it = {pc, IPK_POLLIN, 0};
		(void)ipk_poll(&it, 1, 0);
		rv = ipk_recv(c, b, sizeof(b), &n, NULL, 10);
	} while (rv == -ETIMEDOUT);
	T_ERR(rv, IPK_ECLOSED);
}

static void
seq_msg(unsigned char *m, uint64_t seq, const char *body)
{
	for (int i = 0; i < 8; i++)
		m[i] = (unsigned char)(seq >> (56 - 8 * i));
	memcpy(m + 8, body, strlen(body));
}

/* A subscriber (bound) given 3 bytes by a "publisher": dropped. */
static void
sub_short(void)
{
	reset(1);
	snprintf(url, sizeof(url), "%s?pattern=sub", base);
	T_OK(ipk_bind(url, NULL, &pc));
	plain_dial(&hostile);
	T_OK(ipk_send(hostile, "abc", 3, 0, 1000));
	char b[64];
	size_t n;
	T_ERR(ipk_recv(pc, b, sizeof(b), &n, NULL, 200), -ETIMEDOUT);
	expect_dropped(hostile);
	/* A good publisher is still served. */
	plain_dial(&good);
	unsigned char m[16];
	seq_msg(m, 0, "ok");
	T_OK(ipk_send(good, m, 10, 0, 1000));
	T_OK(ipk_recv(pc, b, sizeof(b), &n, NULL, 5000));
	T_ASSERT(n == 2 && !memcmp(b, "ok", 2));
}

/* A sequence number that goes back: the second message is not
 * delivered, the peer dropped. Forward jumps are counted as losses. */
static void
sub_seq(void)
{
	reset(2);
	snprintf(url, sizeof(url), "%s?pattern=sub", base);
	T_OK(ipk_bind(url, NULL, &pc));
	plain_dial(&hostile);
	unsigned char m[16];
	char b[64];
	size_t n;
	seq_msg(m, 5, "a");
	T_OK(ipk_send(hostile, m, 9, 0, 1000));
	seq_msg(m, 9, "b");
	T_OK(ipk_send(hostile, m, 9, 0, 1000));
	seq_msg(m, 3, "c");
	T_OK(ipk_send(hostile, m, 9, 0, 1000));
	T_OK(ipk_recv(pc, b, sizeof(b), &n, NULL, 5000));
	T_ASSERT(n == 1 && b[0] == 'a');
	T_OK(ipk_recv(pc, b, sizeof(b), &n, NULL, 5000));
	T_ASSERT(n == 1 && b[0] == 'b');
	struct ipk_stats st;
	T_OK(ipk_stats(pc, &st));
	T_EQ(st.gaps, 3); /* 6, 7 and 8 never came */
	T_ERR(ipk_recv(pc, b, sizeof(b), &n, NULL, 200), -ETIMEDOUT);
	expect_dropped(hostile);
}

/* A "server" that answers a request with 2 bytes: the client learns the
 * server broke off, and is given no reply. */
static void
req_short(void)
{
	reset(3);
	T_OK(ipk_listen(base, NULL, &pl));
	snprintf(url, sizeof(url), "%s?pattern=req", base);
	struct ipk_opts o = {.timeout_ms = 5000};
	T_OK(ipk_dial(url, &o, &pc));
	T_OK(ipk_accept(pl, 5000, &hostile));
	T_OK(ipk_send(pc, "question", 8, 0, 1000));
	unsigned char q[64];
	size_t n;
	T_OK(ipk_recv(hostile, q, sizeof(q), &n, NULL, 5000));
	T_ASSERT(n == 12 && (q[0] & 0x80));
	T_OK(ipk_send(hostile, q, 2, 0, 1000)); /* half an id */
	char a[64];
	int rv = ipk_recv(pc, a, sizeof(a), &n, NULL, 2000);
	T_ASSERT(rv == IPK_ECLOSED || rv == -EBADMSG);
}

/* A rep given requests without an id (2 bytes; nine words without the
 * high bit, past the hop limit): neither is delivered, both peers are
 * dropped, and a good client is answered. */
static void
rep_bt(void)
{
	reset(4);
	snprintf(url, sizeof(url), "%s?pattern=rep", base);
	T_OK(ipk_bind(url, NULL, &pc));
	char b[64];
	size_t n;
	plain_dial(&hostile);
	T_OK(ipk_send(hostile, "xy", 2, 0, 1000));
	T_ERR(ipk_recv(pc, b, sizeof(b), &n, NULL, 200), -ETIMEDOUT);
	expect_dropped(hostile);
	ipk_close(hostile);
	hostile = NULL;
	plain_dial(&hostile);
	unsigned char hops[40] = {0};
	for (int i = 0; i < 9; i++)
		hops[4 * i + 3] = (unsigned char)(i + 1);
	memcpy(hops + 36, "body", 4);
	T_OK(ipk_send(hostile, hops, sizeof(hops), 0, 1000));
	T_ERR(ipk_recv(pc, b, sizeof(b), &n, NULL, 200), -ETIMEDOUT);
	expect_dropped(hostile);
	/* A request through two devices (two hops, then the id) is
	 * answered with the whole backtrace. */
	plain_dial(&good);
	unsigned char req[16] = {
	    0, 0, 0, 7, 0, 0, 0, 9, 0x80, 0, 0, 1, 'h', 'i'};
	T_OK(ipk_send(good, req, 14, 0, 1000));
	T_OK(ipk_recv(pc, b, sizeof(b), &n, NULL, 5000));
	T_ASSERT(n == 2 && !memcmp(b, "hi", 2));
	T_OK(ipk_send(pc, "yo", 2, 0, 1000));
	unsigned char r[32];
	T_OK(ipk_recv(good, r, sizeof(r), &n, NULL, 5000));
	T_EQ(n, 14);
	T_ASSERT(!memcmp(r, req, 12) && !memcmp(r + 12, "yo", 2));
}

int
main(void)
{
	t_watchdog(60);
	t_cleanup_hook = cleanup;
	sub_short();
	sub_seq();
	req_short();
	rep_bt();
	cleanup();
	printf("PASS transport pattern (hostile peers)\n");
	return T_PASS;
}
