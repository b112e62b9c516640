/* SPDX-License-Identifier: MIT */
/*
 * ring_test.c - the shm/inproc ring on its own: records that wrap, an
 * exhaustive walk over small hostile states (every index pair and record
 * length word of a 64-byte ring: the reader must answer message, empty or
 * corrupt and never touch memory outside the ring - ASan watches), and a
 * two-thread stress of 10^6 checksummed messages (run under TSan by
 * `make tsan`).
 */
#include <pthread.h>

#include "test.h"
#include "shm/ring.h"

static struct ipk__ring_ctl *
ring_new(
    struct ipk__ring *w, struct ipk__ring *r, unsigned char *data, uint64_t cap)
{
	struct ipk__ring_ctl *ctl = aligned_alloc(64, IPK__RING_CTL_SIZE);
	T_ASSERT(ctl);
	T_OK(ipk__ring_ctl_init(ctl, 0));
	for (int i = 0; i < 2; i++) {
		struct ipk__ring *x = i ? r : w;
		if (!x)
			continue;
		memset(x, 0, sizeof(*x));
		x->ctl = ctl;
		x->data = data;
		x->cap = cap;
		x->mask = cap - 1;
	}
	return ctl;
}

/* Single thread: records of every length wrap around a small ring. */
static void
test_wrap(void)
{
	uint64_t cap = 256;
	unsigned char *data = malloc(cap);
	struct ipk__ring w, r;
	struct ipk__ring_ctl *ctl = ring_new(&w, &r, data, cap);
	T_OK(ipk__ring_attach_producer(&w));
	T_OK(ipk__ring_attach_consumer(&r));
	uint64_t seed = t_seed();
	struct ipk__ring_msg m;
	void *p;
	T_ERR(ipk__ring_peek(&r, &m), -EAGAIN);
	T_ERR(ipk__ring_loan(&w, cap - 15, &p), -EMSGSIZE);
	for (uint64_t i = 0; i < 20000; i++) {
		uint64_t len = (i * 37) % (cap - 15); /* 0 .. cap-16 */
		/* Fill until full, then drain, so every offset is hit. */
		int rv, idle = 0;
		while ((rv = ipk__ring_loan(&w, len, &p)) == -EAGAIN) {
			/* Full: consume one record (padding goes by itself). */
			int pr = ipk__ring_peek(&r, &m);
			if (pr == 0) {
				T_ASSERT(t_check(m.buf, m.len, seed, m.type));
				ipk__ring_release(&r);
			} else {
				T_EQ(pr, -EAGAIN);
				T_ASSERT(++idle < 2);
			}
		}
		T_OK(rv);
		T_ASSERT((unsigned char *)p >= data &&
		    (unsigned char *)p + len <= data + cap);
		t_fill(p, len, seed, i);
		ipk__ring_commit(&w, len, (uint32_t)i);
		/* Drain everything at once now and then. */
		if (i % 7 == 0) {
			while (ipk__ring_peek(&r, &m) == 0) {
				T_ASSERT(t_check(m.buf, m.len, seed, m.type));
				ipk__ring_release(&r);
			}
		}
	}
	/* The largest record fills the ring exactly. */
	while (ipk__ring_peek(&r, &m) == 0)
		ipk__ring_release(&r);
	if (ipk__ring_loan(&w, cap - 16, &p) == -EAGAIN) {
		/* It needed a padding record first; the reader skips it. */
		T_ERR(ipk__ring_peek(&r, &m), -EAGAIN);
		T_OK(ipk__ring_loan(&w, cap - 16, &p));
	}
	ipk__ring_commit(&w, cap - 16, 1);
	T_OK(ipk__ring_peek(&r, &m));
	T_EQ(m.len, cap - 16);
	ipk__ring_release(&r);
	ipk__ring_ctl_fini(ctl);
	free(ctl);
	free(data);
}

/* A producer that dies between loan and commit leaves nothing visible. */
static void
test_torn(void)
{
	uint64_t cap = 256;
	unsigned char *data = malloc(cap);
	struct ipk__ring w, w2, r;
	struct ipk__ring_ctl *ctl = ring_new(&w, &r, data, cap);
	T_OK(ipk__ring_attach_producer(&w));
	T_OK(ipk__ring_attach_consumer(&r));
	void *p;
	T_OK(ipk__ring_loan(&w, 100, &p));
	memset(p, 0xee, 100);
	/* "Crash": w is abandoned; a new producer attaches. */
	struct ipk__ring_msg m;
	T_ERR(ipk__ring_peek(&r, &m), -EAGAIN);
	w2 = w;
	T_OK(ipk__ring_attach_producer(&w2));
	T_OK(ipk__ring_loan(&w2, 3, &p));
	memcpy(p, "abc", 3);
	ipk__ring_commit(&w2, 3, 9);
	T_OK(ipk__ring_peek(&r, &m));
	T_EQ(m.len, 3);
	T_ASSERT(!memcmp(m.buf, "abc", 3));
	/* A consumer that dies before release sees the record again. */
	struct ipk__ring r2 = r;
	T_OK(ipk__ring_attach_consumer(&r2));
	T_OK(ipk__ring_peek(&r2, &m));
	T_EQ(m.type, 9);
	ipk__ring_release(&r2);
	T_ERR(ipk__ring_peek(&r2, &m), -EAGAIN);
	ipk__ring_ctl_fini(ctl);
	free(ctl);
	free(data);
}

/* A producer that dies between the stamp (the commit) and its store of
 * tail left a record the consumer can take: the next producer must not
 * write over it, whether the consumer took it yet or not. */
static void
test_crash_tail(void)
{
	uint64_t cap = 256;
	unsigned char *data = calloc(1, cap);
	struct ipk__ring w, w2, r;
	struct ipk__ring_ctl *ctl = ring_new(&w, &r, data, cap);
	T_OK(ipk__ring_attach_producer(&w));
	T_OK(ipk__ring_attach_consumer(&r));
	void *p;
	for (int took = 0; took < 2; took++) {
		uint64_t t0 = ctl->tail;
		T_OK(ipk__ring_loan(&w, 40, &p));
		memset(p, 0x11, 40);
		ipk__ring_commit(&w, 40, 7);
		ctl->tail = t0; /* the "crash": tail never stored */
		struct ipk__ring_msg m;
		if (took) {
			T_OK(ipk__ring_peek(&r, &m));
			ipk__ring_release(&r); /* head now passes tail */
		}
		w2 = w;
		T_OK(ipk__ring_attach_producer(&w2));
		T_EQ(w2.pos, w.pos);
		T_OK(ipk__ring_loan(&w2, 3, &p));
		memcpy(p, "xyz", 3);
		ipk__ring_commit(&w2, 3, 8);
		if (!took) {
			T_OK(ipk__ring_peek(&r, &m));
			T_EQ(m.type, 7);
			T_EQ(m.len, 40);
			ipk__ring_release(&r);
		}
		T_OK(ipk__ring_peek(&r, &m));
		T_EQ(m.type, 8);
		T_ASSERT(!memcmp(m.buf, "xyz", 3));
		ipk__ring_release(&r);
		w = w2;
	}
	ipk__ring_ctl_fini(ctl);
	free(ctl);
	free(data);
}

/* What the reader must answer at head h for a stamp that is (good) or is
 * not the one h must carry, and the length word w: IPK_ECORRUPT, -EAGAIN,
 * 0 for a message, or 1 for a valid padding record. */
static int
expect_peek(uint64_t h, int good, uint32_t w, uint64_t cap)
{
	if (!good)
		return -EAGAIN;
	uint64_t rem = cap - h % cap;
	if (w & IPK__RING_PAD)
		return w == (IPK__RING_PAD | (uint32_t)(rem - 16))
		    ? 1
		    : IPK_ECORRUPT;
	return ipk__ring_recsize(w) > rem ? IPK_ECORRUPT : 0;
}

/* The producer, for every (head, tail) a hostile consumer or a crash may
 * leave, and every head it may publish while the ring is nearly full:
 * attach and loan answer space, full or corrupt exactly. */
static void
exhaustive_producer(
    struct ipk__ring_ctl *ctl, unsigned char *data, uint64_t cap)
{
	struct ipk__ring w;
	memset(data, 0x5a, cap);
	for (uint64_t h = 0; h < 4 * cap; h++)
		for (uint64_t t = 0; t < 4 * cap; t++) {
			memset(&w, 0, sizeof(w));
			w.ctl = ctl;
			w.data = data;
			w.cap = cap;
			w.mask = cap - 1;
			ctl->head = h;
			ctl->tail = t;
			int bad =
			    ((h | t) & 15) || (h - t > cap && t - h > cap);
			T_EQ(ipk__ring_attach_producer(&w),
			    bad ? IPK_ECORRUPT : 0);
			if (!bad)
				T_EQ(w.pos, h - t <= cap ? h : t);
		}
	/* Nearly full at tail T (offset 0); the consumer's head becomes v. */
	const uint64_t T = 2 * cap;
	for (uint64_t v = 0; v < 4 * cap; v++) {
		memset(&w, 0, sizeof(w));
		w.ctl = ctl;
		w.data = data;
		w.cap = cap;
		w.mask = cap - 1;
		ctl->tail = T;
		ctl->head = T - (cap - 16);
		T_OK(ipk__ring_attach_producer(&w));
		ctl->head = v;
		void *p = NULL;
		int want = (v & 15) || T - v > cap ? IPK_ECORRUPT
		    : T + 32 - v <= cap		   ? 0
						   : -EAGAIN;
		int rv = ipk__ring_loan(&w, 16, &p);
		if (rv != want)
			T_FAILF("loan at tail %llu, head %llu: %d, want %d",
			    (unsigned long long)T, (unsigned long long)v, rv,
			    want);
	}
}

/* Every head, stamp (right or wrong) and length word of a 64-byte ring:
 * the reader answers message, empty or corrupt exactly as the layout says,
 * any message lies inside the ring, and head moves only past what was
 * committed. */
static void
test_exhaustive(void)
{
#ifdef __SANITIZE_THREAD__
	/* No threads in it, and slow under TSan: ASan and plain runs do it. */
	fprintf(stderr, "exhaustive: left to the non-TSan builds\n");
	return;
#endif
	const uint64_t cap = 64;
	uint32_t words[256];
	int nw = 0;
	for (int i = -64; i <= 72; i++)
		words[nw++] = (uint32_t)i;
	words[nw++] = 0x7fffffffu;
	words[nw++] = 0xffffffffu;
	for (uint32_t k = 0; k <= 64; k += 8)
		words[nw++] = IPK__RING_PAD | k;
	words[nw++] = IPK__RING_PAD | 0x7fffffffu;
	unsigned char *data = malloc(cap); /* exact size: ASan sees overruns */
	struct ipk__ring r;
	struct ipk__ring_ctl *ctl = ring_new(NULL, &r, data, cap);
	long counts[3] = {0, 0, 0};
	for (uint64_t h = 0; h < 4 * cap; h++) {
		ctl->head = h;
		ctl->tail = 0;
		T_EQ(ipk__ring_attach_consumer(&r), h & 15 ? IPK_ECORRUPT : 0);
		if (h & 15) {
			counts[2]++;
			continue;
		}
		for (int good = 0; good < 3; good++)
			for (int wi = 0; wi < nw; wi++) {
				memset(data, 0x5a, cap);
				uint64_t off = h % cap;
				memcpy(data + off, &words[wi], 4);
				/* Right stamp, an older lap's, or a later
				 * one's. */
				uint64_t st = good == 0 ? h ^ ctl->key
				    : good == 1		? (h - cap) ^ ctl->key
							: (h + cap) ^ ctl->key;
				memcpy(data + off + 8, &st, 8);
				ctl->head = h;
				T_OK(ipk__ring_attach_consumer(&r));
				int want =
				    expect_peek(h, good == 0, words[wi], cap);
				struct ipk__ring_msg m;
				/* Up to three records from this state. */
				for (int k = 0; k < 3; k++) {
					int rv = ipk__ring_peek(&r, &m);
					if (k == 0 && want != 1 && rv != want)
						T_FAILF("head %llu stamp %d "
							"word 0x%x: %d, want "
							"%d",
						    (unsigned long long)h, good,
						    words[wi], rv, want);
					/* Released only what was committed. */
					uint64_t most = want == 1 ? cap - off
					    : want == 0
					    ? ipk__ring_recsize(words[wi])
					    : 0;
					T_ASSERT(ctl->head - h <= most);
					if (rv == 0) {
						counts[0]++;
						T_ASSERT(m.buf >= data + 16 &&
						    m.buf + m.len <=
							data + cap);
						volatile unsigned char x = 0;
						for (uint32_t b = 0; b < m.len;
						     b++)
							x ^= m.buf[b];
						(void)x;
						ipk__ring_release(&r);
						T_ASSERT(ctl->head - h <= most);
						continue;
					}
					if (rv == -EAGAIN)
						counts[1]++;
					else if (rv == IPK_ECORRUPT)
						counts[2]++;
					else
						T_FAILF("peek returned %d", rv);
					break;
				}
			}
	}
	exhaustive_producer(ctl, data, cap);
	fprintf(stderr, "exhaustive: %ld messages, %ld empty, %ld corrupt\n",
	    counts[0], counts[1], counts[2]);
	T_ASSERT(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
	ipk__ring_ctl_fini(ctl);
	free(ctl);
	free(data);
}

/* The rejection paths of attach and the ring options, each once: indices
 * not 16-byte aligned or more than `cap` apart, and a chain of stamped
 * records past tail that would end more than `cap` after head. */
static void
test_rejections(void)
{
	const uint64_t cap = 64;
	unsigned char *data = calloc(1, cap);
	struct ipk__ring w, r;
	struct ipk__ring_ctl *ctl = ring_new(&w, &r, data, cap);
	static const struct {
		uint64_t tail, head;
		int prod, cons;
	} bad[] = {{8, 0, IPK_ECORRUPT, 0}, {0, 8, IPK_ECORRUPT, IPK_ECORRUPT},
	    {cap + 16, 0, IPK_ECORRUPT, 0}, {16, 32, 0, 0}};
	for (size_t i = 0; i < IPK__ARRAY_LEN(bad); i++) {
		ctl->tail = bad[i].tail;
		ctl->head = bad[i].head;
		T_ERR(ipk__ring_attach_producer(&w), bad[i].prod);
		T_ERR(ipk__ring_attach_consumer(&r), bad[i].cons);
	}
	/* Stamped records at 32, 48 and 64 (offset 0) after tail 32 and
	 * head 0: the last would end at 80, past head + cap. */
	for (uint64_t pos = 32; pos <= 64; pos += 16) {
		uint64_t st = pos ^ ctl->key;
		memset(data + pos % cap, 0, 8);
		memcpy(data + pos % cap + 8, &st, 8);
	}
	ctl->tail = 32;
	ctl->head = 0;
	T_ERR(ipk__ring_attach_producer(&w), IPK_ECORRUPT);
	/* A stamped record too long for the end of the data. */
	uint32_t len = 40;
	memcpy(data + 32, &len, 4);
	T_ERR(ipk__ring_attach_producer(&w), IPK_ECORRUPT);

	static const char *const urls[] = {"shm:///x?size=1024",
	    "shm:///x?size=2G", "shm:///x?wait=sometimes", "shm:///x?size=4k0"};
	for (size_t i = 0; i < IPK__ARRAY_LEN(urls); i++) {
		struct ipk__url u;
		uint64_t c = 0;
		int wait = -1;
		T_OK(ipk__url_parse(urls[i], &u));
		T_ERR(ipk__ring_opts(&u, &c, &wait), -EINVAL);
		T_EQ(c, 0);
		ipk__url_free(&u);
	}
	ipk__ring_ctl_fini(ctl);
	free(ctl);
	free(data);
}

struct flipper {
	uint32_t *word;
	uint32_t good, bad;
	int stop;
};

static void *
flipper_main(void *arg)
{
	struct flipper *f = arg;
	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
		__atomic_store_n(f->word, f->bad, __ATOMIC_RELAXED);
		__atomic_store_n(f->word, f->good, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* A peer toggles a published record's length between a valid value and
 * one far past the ring while the reader peeks: each peek sees one value
 * (loaded once), so the answer is the valid message or corrupt, and ASan
 * sees no access outside the ring. */
static void
test_flipper(void)
{
	uint64_t cap = 256;
	unsigned char *data = malloc(cap);
	struct ipk__ring w, r;
	struct ipk__ring_ctl *ctl = ring_new(&w, &r, data, cap);
	T_OK(ipk__ring_attach_producer(&w));
	void *p;
	T_OK(ipk__ring_loan(&w, 100, &p));
	memset(p, 1, 100);
	ipk__ring_commit(&w, 100, 1);
	struct flipper f = {
	    (uint32_t *)(void *)data, 100, (uint32_t)cap + 4096, 0};
	pthread_t th;
	T_ASSERT(pthread_create(&th, NULL, flipper_main, &f) == 0);
	long ok = 0, bad = 0;
	for (int i = 0; i < 1000000; i++) {
		T_OK(ipk__ring_attach_consumer(&r));
		struct ipk__ring_msg m;
		int rv = ipk__ring_peek(&r, &m);
		if (rv == 0) {
			T_EQ(m.len, 100);
			T_ASSERT(m.buf + m.len <= data + cap);
			ok++;
		} else {
			T_EQ(rv, IPK_ECORRUPT);
			bad++;
		}
	}
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	fprintf(stderr, "flipper: %ld valid, %ld corrupt\n", ok, bad);
	ipk__ring_ctl_fini(ctl);
	free(ctl);
	free(data);
}

#define STRESS_N 1000000

struct stress {
	struct ipk__ring w, r;
	uint64_t seed;
	int strategy;
	uint64_t sum_w, sum_r;
};

static uint64_t
stress_len(uint64_t i)
{
	return (i * 2654435761u) % 301;
}

static void *
stress_producer(void *arg)
{
	struct stress *s = arg;
	unsigned char buf[512];
	for (uint64_t i = 0; i < STRESS_N; i++) {
		uint64_t len = stress_len(i);
		void *p;
		int rv;
		while ((rv = ipk__ring_loan(&s->w, len, &p)) == -EAGAIN)
			(void)ipk__ring_wait(
			    &s->w, 0, s->strategy, ipk__now_ns() + 20000000);
		if (rv != 0)
			return (void *)1;
		t_fill(buf, len, s->seed, i);
		memcpy(p, buf, len);
		for (uint64_t b = 0; b < len; b++)
			s->sum_w = s->sum_w * 31 + buf[b];
		ipk__ring_commit(&s->w, len, (uint32_t)i);
	}
	return NULL;
}

/* `asym` 0: both sides publish as a process that could not register for
 * the expedited barrier does (a locked read of the sleep word). */
static void
test_stress(int strategy, int asym)
{
	struct stress s;
	uint64_t cap = 4096;
	unsigned char *data = malloc(cap);
	struct ipk__ring_ctl *ctl = ring_new(&s.w, &s.r, data, cap);
	s.seed = t_seed();
	s.strategy = strategy;
	s.sum_w = s.sum_r = 0;
	T_OK(ipk__ring_attach_producer(&s.w));
	T_OK(ipk__ring_attach_consumer(&s.r));
	if (!asym)
		s.w.asym = s.r.asym = 0;
	pthread_t th;
	T_ASSERT(pthread_create(&th, NULL, stress_producer, &s) == 0);
	uint64_t wraps = 0, last = 0;
	for (uint64_t i = 0; i < STRESS_N; i++) {
		struct ipk__ring_msg m;
		int rv;
		while ((rv = ipk__ring_peek(&s.r, &m)) == -EAGAIN)
			(void)ipk__ring_wait(
			    &s.r, 1, strategy, ipk__now_ns() + 20000000);
		T_OK(rv);
		T_EQ(m.type, (uint32_t)i);
		T_EQ(m.len, stress_len(i));
		for (uint32_t b = 0; b < m.len; b++)
			s.sum_r = s.sum_r * 31 + m.buf[b];
		if (s.r.pos / cap != last) {
			wraps++;
			last = s.r.pos / cap;
		}
		ipk__ring_release(&s.r);
	}
	void *res;
	pthread_join(th, &res);
	T_ASSERT(res == NULL);
	T_EQ(s.sum_r, s.sum_w);
	fprintf(stderr, "stress (strategy %d%s): %d messages, %llu wraps\n",
	    strategy, asym ? "" : ", fenced", STRESS_N,
	    (unsigned long long)wraps);
	T_ASSERT(wraps >= 10000);
	ipk__ring_ctl_fini(ctl);
	free(ctl);
	free(data);
}

/* `ring_test quick`: the single-thread parts only (the negative-control
 * run, tests/negative/run.sh). */
int
main(int argc, char **argv)
{
	t_watchdog(110);
	test_wrap();
	test_torn();
	test_crash_tail();
	test_exhaustive();
	test_rejections();
	if (argc > 1 && !strcmp(argv[1], "quick")) {
		printf("PASS ring (quick)\n");
		return T_PASS;
	}
	test_flipper();
	test_stress(IPK__WAIT_ADAPTIVE, 1);
	test_stress(IPK__WAIT_SEM, 1);
	test_stress(IPK__WAIT_FUTEX, 0);
	printf("PASS ring\n");
	return T_PASS;
}
