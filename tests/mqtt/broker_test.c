/* SPDX-License-Identifier: MIT */
/*
 * broker_test.c - mqtt:// against a real mosquitto started here: no
 * broker (refused at once), the type property, wildcards and
 * ipk_subscribe, ipk_poll on ipk_fd, retained messages, a persistent
 * session that gets what was published while it was away, QoS 0 losses
 * counted while the broker is down, and ipk_close that returns at once
 * from a dead or frozen broker.
 */
#include "mqtt/broker.h"

static struct tbroker b;

static struct ipk_chan *
open_url(const char *topic, const char *query, int bind)
{
	char u[512];
	struct ipk_chan *c;
	tb_url(&b, u, sizeof(u), topic, query);
	int rv = bind ? ipk_bind(u, NULL, &c) : ipk_dial(u, NULL, &c);
	if (rv < 0)
		T_FAILF("%s: %s", u, ipk_strerror(rv));
	return c;
}

/* The next message within 5 s, as a string; its type into *type. */
static const char *
next(struct ipk_chan *c, uint32_t *type)
{
	static char buf[256];
	size_t len;
	T_OK(ipk_recv(c, buf, sizeof(buf) - 1, &len, type, 5000));
	buf[len] = '\0';
	return buf;
}

static void
test_no_broker(void)
{
	char u[128];
	struct ipk_chan *c;
	snprintf(
	    u, sizeof(u), "mqtt://127.0.0.1:%d/a?pattern=sub", tb_free_port());
	int64_t t0 = t_now_ns();
	T_ERR(ipk_dial(u, NULL, &c), -ECONNREFUSED);
	T_ASSERT(strstr(ipk_strerror(-ECONNREFUSED), "no broker listens"));
	T_ASSERT(t_ms_since(t0) < 1000);
}

static void
test_types_and_wildcards(void)
{
	struct ipk_chan *s = open_url("w/+/x", "pattern=sub", 0);
	T_OK(ipk_subscribe(s, "z/#", 3));
	T_ERR(ipk_subscribe(s, "z/#/q", 5), -EINVAL);
	T_ERR(ipk_send(s, "x", 1, 0, 0), -ENOTSUP);
	struct ipk_chan *p1 = open_url("w/a/x", "pattern=pub", 1);
	struct ipk_chan *p2 = open_url("w/b/c", "pattern=pub", 0);
	struct ipk_chan *p3 = open_url("z/q/r", "pattern=pub", 0);
	size_t len;
	char tmp[8];
	T_ERR(ipk_recv(p1, tmp, sizeof(tmp), &len, NULL, 0), -ENOTSUP);

	/* Nothing yet: the descriptor is quiet and poll says so. */
	struct ipk_pollitem it = {s, IPK_POLLIN, 0};
	T_ERR(ipk_poll(&it, 1, 0), -EAGAIN);
	T_OK(ipk_send(p1, "one", 3, 7, 1000));
	T_OK(ipk_send(p2, "not for us", 10, 0, 1000));
	T_OK(ipk_send(p3, "two", 3, 0xffffffffu, 1000));
	T_EQ(ipk_poll(&it, 1, 5000), 1);
	/* Two publishers, two connections: either may reach the broker
	 * first. */
	int have = 0;
	for (int k = 0; k < 2; k++) {
		uint32_t type;
		const char *m = next(s, &type);
		if (!strcmp(m, "one") && type == 7)
			have |= 1;
		else if (!strcmp(m, "two") && type == 0xffffffffu)
			have |= 2;
		else
			T_FAILF("unexpected '%s' of type %u", m, type);
	}
	T_EQ(have, 3);
	T_OK(ipk_flush(p2, 5000));
	T_ERR(ipk_recv(s, tmp, sizeof(tmp), &len, NULL, 200), -ETIMEDOUT);
	/* Too small a buffer: the size needed, the message kept. */
	T_OK(ipk_send(p1, "0123456789", 10, 0, 1000));
	T_ERR(ipk_recv(s, tmp, 4, &len, NULL, 5000), -EMSGSIZE);
	T_EQ(len, 10);
	T_ASSERT(!strcmp(next(s, NULL), "0123456789"));
	struct ipk_stats st;
	T_OK(ipk_stats(s, &st));
	T_EQ(st.gaps, 0);
	T_EQ(st.msgs_recv, 3);
	T_ASSERT(ipk_caps(s) & IPK_CAP_BROKER);
	T_ASSERT(!strcmp(ipk_scheme(s), "mqtt"));
	ipk_close(p1);
	ipk_close(p2);
	ipk_close(p3);
	ipk_close(s);
}

static void
test_retain(void)
{
	struct ipk_chan *p = open_url("r/t", "pattern=pub&retain=1&qos=1", 1);
	T_OK(ipk_send(p, "last", 4, 3, 1000));
	T_OK(ipk_flush(p, 5000));
	ipk_close(p);
	struct ipk_chan *s = open_url("r/#", "pattern=sub", 0);
	uint32_t type;
	T_ASSERT(!strcmp(next(s, &type), "last"));
	T_EQ(type, 3);
	ipk_close(s);
}

static void
test_session(void)
{
	char q[128];
	snprintf(q, sizeof(q), "pattern=sub&qos=1&clean=0&id=%s-s", t_unique());
	struct ipk_chan *s = open_url("sess/x", q, 0);
	ipk_close(s);
	struct ipk_chan *p = open_url("sess/x", "pattern=pub&qos=1", 0);
	for (int i = 0; i < 10; i++) {
		char m[16];
		int n = snprintf(m, sizeof(m), "m%d", i);
		T_OK(ipk_send(p, m, (size_t)n, 0, 1000));
	}
	T_OK(ipk_flush(p, 5000));
	ipk_close(p);
	s = open_url("sess/x", q, 0);
	for (int i = 0; i < 10; i++) {
		char m[16];
		snprintf(m, sizeof(m), "m%d", i);
		T_ASSERT(!strcmp(next(s, NULL), m));
	}
	ipk_close(s);
}

/* QoS 2 both ways, in order, each once; a small ?queue= makes ipk_send
 * wait for acknowledgements, and IPK_POLLOUT says when it need not. */
static void
test_qos2(void)
{
	struct ipk_chan *s = open_url("q2", "pattern=sub&qos=2", 0);
	struct ipk_chan *p = open_url("q2", "pattern=pub&qos=2&queue=4", 0);
	struct ipk_pollitem it = {p, IPK_POLLOUT, 0};
	T_EQ(ipk_poll(&it, 1, 0), 1);
	for (int i = 0; i < 200; i++) {
		char m[16];
		int n = snprintf(m, sizeof(m), "q%d", i);
		T_OK(ipk_send(p, m, (size_t)n, (uint32_t)i, 5000));
	}
	T_OK(ipk_flush(p, 5000));
	T_EQ(ipk_poll(&it, 1, 1000), 1);
	for (int i = 0; i < 200; i++) {
		char m[16];
		uint32_t type;
		snprintf(m, sizeof(m), "q%d", i);
		T_ASSERT(!strcmp(next(s, &type), m));
		T_EQ(type, i);
	}
	struct ipk_stats st;
	T_OK(ipk_stats(s, &st));
	T_EQ(st.gaps, 0);
	T_EQ(st.reordered, 0);
	ipk_close(p);
	ipk_close(s);
}

/* ?bridge=ID: a sub never takes what a pub of the same id published. */
static void
test_bridge_mark(void)
{
	struct ipk_chan *s = open_url("br", "pattern=sub&bridge=me", 0);
	struct ipk_chan *own = open_url("br", "pattern=pub&bridge=me", 0);
	struct ipk_chan *other = open_url("br", "pattern=pub&bridge=you", 0);
	T_OK(ipk_send(own, "own", 3, 0, 1000));
	T_OK(ipk_send(other, "other", 5, 0, 1000));
	T_ASSERT(!strcmp(next(s, NULL), "other"));
	char tmp[8];
	size_t len;
	T_ERR(ipk_recv(s, tmp, sizeof(tmp), &len, NULL, 200), -ETIMEDOUT);
	ipk_close(own);
	ipk_close(other);
	ipk_close(s);
}

static void
test_broker_gone(void)
{
	struct ipk_chan *p0 = open_url("gone", "pattern=pub", 0);
	struct ipk_chan *p1 = open_url("gone", "pattern=pub&qos=1", 0);
	struct ipk_chan *s = open_url("gone", "pattern=sub&qos=1", 0);
	tb_signal(&b, SIGKILL);
	/* QoS 0 while nobody carries it: lost, counted, not an error (the
	 * network thread needs a moment to see the broker gone). */
	struct ipk_stats st = {0};
	for (int i = 0; i < 500 && st.gaps == 0; i++) {
		T_OK(ipk_send(p0, "x", 1, 0, 0));
		T_OK(ipk_stats(p0, &st));
		(void)poll(NULL, 0, 10);
	}
	T_ASSERT(st.gaps > 0);
	/* QoS 1 is kept for the broker's return. */
	T_OK(ipk_send(p1, "kept", 4, 0, 0));
	T_ERR(ipk_flush(p1, 100), -ETIMEDOUT);
	int64_t t0 = t_now_ns();
	ipk_close(p0);
	ipk_close(p1);
	ipk_close(s);
	T_ASSERT(t_ms_since(t0) < 1000);
	tb_start(&b);

	/* A frozen broker: the connection stands, nobody answers. */
	p1 = open_url("gone", "pattern=pub&qos=1", 0);
	s = open_url("gone", "pattern=sub&qos=1", 0);
	tb_signal(&b, SIGSTOP);
	T_OK(ipk_send(p1, "x", 1, 0, 0));
	t0 = t_now_ns();
	ipk_close(p1);
	ipk_close(s);
	T_ASSERT(t_ms_since(t0) < 1000);
	tb_signal(&b, SIGCONT);
}

int
main(void)
{
	t_watchdog(60);
	tb_need();
	t_cleanup_hook = tb_cleanup;
	test_no_broker();
	tb_start(&b);
	test_types_and_wildcards();
	test_retain();
	test_session();
	test_qos2();
	test_bridge_mark();
	test_broker_gone();
	tb_stop(&b);
	return T_PASS;
}
