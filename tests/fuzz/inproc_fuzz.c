/* SPDX-License-Identifier: MIT */
/*
 * inproc_fuzz.c - libFuzzer target, stateful: an inproc:// channel pair
 * with 4 KiB rings driven by an operation sequence (send, recv, peek,
 * release, loan, commit, redial) and checked, call by call, against a
 * model of the ring: positions, padding records, what is queued. Any
 * difference in a result code, length, type or payload byte aborts.
 *
 * Input: 3 bytes per operation { op | dir << 3 | type << 4, u16 n }.
 * dir 0: dialer to listener, 1: listener to dialer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"

#define CAP 4096u
#define MAXMSG (CAP - 16u)
#define QMAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ent {
	uint64_t pos, size;
	int pad;
	uint32_t len, type, id;
};

/* One direction: the ring as the model sees it. */
struct model {
	uint64_t tail, head;
	struct ent q[QMAX];
	int first, n;
	int peeked, loaned;
	uint32_t loan_len, next_id;
	void *loan_buf;
};

static uint64_t
rec_size(uint64_t len)
{
	return (16 + len + 15) & ~(uint64_t)15;
}

static unsigned char
pat(uint32_t id, size_t k)
{
	return (unsigned char)(id * 131u + k * 7u);
}

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "model mismatch: %s (line %d)\n", #x,  \
			    __LINE__);                                         \
			abort();                                               \
		}                                                              \
	} while (0)

static void
m_push(struct model *m, int pad, uint64_t size, uint32_t len, uint32_t type,
    uint32_t id)
{
	CHECK(m->n < QMAX);
	struct ent *e = &m->q[(m->first + m->n++) % QMAX];
	e->pos = m->tail;
	e->size = size;
	e->pad = pad;
	e->len = len;
	e->type = type;
	e->id = id;
	m->tail += size;
}

static void
m_pop(struct model *m)
{
	struct ent *e = &m->q[m->first];
	m->head = e->pos + e->size;
	m->first = (m->first + 1) % QMAX;
	m->n--;
}

/* The producer's room rule, with the padding record it may publish. */
static int
m_reserve(struct model *m, uint32_t len)
{
	if (len > MAXMSG)
		return -EMSGSIZE;
	uint64_t need = rec_size(len), rem = CAP - (m->tail & (CAP - 1));
	if (need > rem) {
		if (m->tail + rem - m->head > CAP)
			return -EAGAIN;
		m_push(m, 1, rem, 0, 0, 0);
	}
	return m->tail + need - m->head > CAP ? -EAGAIN : 0;
}

/* The consumer releases padding records on its way to a message. */
static struct ent *
m_front(struct model *m)
{
	while (m->n && m->q[m->first].pad)
		m_pop(m);
	return m->n ? &m->q[m->first] : NULL;
}

static void
check_payload(
    const struct ent *e, const unsigned char *p, size_t len, uint32_t type)
{
	CHECK(len == e->len);
	CHECK(type == e->type);
	for (size_t k = 0; k < len; k++)
		CHECK(p[k] == pat(e->id, k));
}

static void
op_send(struct ipk_chan *c, struct model *m, uint32_t len, uint32_t type)
{
	static unsigned char buf[CAP + 256];
	if (m->loaned) {
		/* The loan holds the ring's next slot: a send now would
		 * be overwritten by the loan's bytes (see the corpus input
		 * regress-send-during-loan). */
		CHECK(ipk_send(c, buf, len, type, 0) == -EBUSY);
		return;
	}
	uint32_t id = m->next_id;
	for (size_t k = 0; k < len && k < sizeof(buf); k++)
		buf[k] = pat(id, k);
	int want = m_reserve(m, len);
	int rv = ipk_send(c, buf, len, type, 0);
	CHECK(rv == want);
	if (rv == 0) {
		m_push(m, 0, rec_size(len), len, type, id);
		m->next_id++;
	}
}

static void
op_recv(struct ipk_chan *c, struct model *m, size_t cap)
{
	static unsigned char buf[CAP];
	size_t len = 0;
	uint32_t type = 0;
	int rv = ipk_recv(c, buf, cap, &len, &type, 0);
	if (m->peeked) {
		CHECK(rv == -EBUSY);
		return;
	}
	struct ent *e = m_front(m);
	if (!e) {
		CHECK(rv == -EAGAIN);
		return;
	}
	if (e->len > cap) {
		CHECK(rv == -EMSGSIZE && len == e->len);
		return;
	}
	CHECK(rv == 0);
	check_payload(e, buf, len, type);
	m_pop(m);
}

static void
op_peek(struct ipk_chan *c, struct model *m)
{
	const void *p;
	size_t len = 0;
	uint32_t type = 0;
	int rv = ipk_peek(c, &p, &len, &type, 0);
	if (m->peeked) {
		CHECK(rv == -EBUSY);
		return;
	}
	struct ent *e = m_front(m);
	if (!e) {
		CHECK(rv == -EAGAIN);
		return;
	}
	CHECK(rv == 0);
	check_payload(e, p, len, type);
	m->peeked = 1;
}

static void
op_release(struct ipk_chan *c, struct model *m)
{
	int rv = ipk_release(c);
	if (!m->peeked) {
		CHECK(rv < 0);
		return;
	}
	CHECK(rv == 0);
	m_pop(m);
	m->peeked = 0;
}

static void
op_loan(struct ipk_chan *c, struct model *m, uint32_t len)
{
	void *p = NULL;
	if (m->loaned) {
		CHECK(ipk_loan(c, len, &p, 0) == -EBUSY);
		return;
	}
	int want = m_reserve(m, len);
	int rv = ipk_loan(c, len, &p, 0);
	CHECK(rv == want);
	if (rv == 0) {
		for (size_t k = 0; k < len; k++)
			((unsigned char *)p)[k] = pat(m->next_id, k);
		m->loaned = 1;
		m->loan_len = len;
	}
}

static void
op_commit(struct ipk_chan *c, struct model *m, uint32_t len, uint32_t type)
{
	int rv = ipk_commit(c, len, type);
	if (!m->loaned || len > m->loan_len) {
		CHECK(rv == -EINVAL);
		return;
	}
	CHECK(rv == 0);
	m_push(m, 0, rec_size(len), len, type, m->next_id++);
	m->loaned = 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char url[64];
	static struct model mod[2];
	if (!url[0])
		snprintf(url, sizeof(url), "inproc://fuzz-%d?size=4096",
		    (int)getpid());
	if (size > 3 * 4096)
		return 0;
	struct ipk_listener *l;
	struct ipk_chan *ch[2]; /* [0] dialer, [1] listener side */
	struct ipk_opts o = {0};
	if (ipk_listen(url, &o, &l) < 0)
		abort();
	if (ipk_dial(url, &o, &ch[0]) < 0 || ipk_accept(l, 0, &ch[1]) < 0)
		abort();
	memset(mod, 0, sizeof(mod));
	for (; size >= 3; data += 3, size -= 3) {
		unsigned op = data[0] & 7, dir = (data[0] >> 3) & 1;
		uint32_t type = data[0] >> 4;
		uint32_t n =
		    ((uint32_t)data[1] | (uint32_t)data[2] << 8) % (CAP + 64);
		struct model *m = &mod[dir];
		struct ipk_chan *tx = ch[dir], *rx = ch[!dir];
		switch (op) {
		case 0:
			op_send(tx, m, n, type);
			break;
		case 1:
			op_recv(rx, m, n);
			break;
		case 2:
			op_peek(rx, m);
			break;
		case 3:
			op_release(rx, m);
			break;
		case 4:
			op_loan(tx, m, n);
			break;
		case 5:
			op_commit(tx, m, n, type);
			break;
		case 6:
			/* The dialer leaves and comes back: an open loan is
			 * dropped, a peeked message is seen again. */
			CHECK(ipk_close(ch[0]) == 0);
			CHECK(ipk_dial(url, &o, &ch[0]) == 0);
			mod[0].loaned = 0;
			mod[1].peeked = 0;
			break;
		default:
			break;
		}
	}
	ipk_close(ch[0]);
	ipk_close(ch[1]);
	ipk_listener_close(l);
	return 0;
}
