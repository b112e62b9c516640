/* SPDX-License-Identifier: MIT */
/*
 * pubsub_thread_test.c - shm publish/subscribe with the publisher and
 * three subscribers on threads of one process (each channel used by one
 * thread), so that ThreadSanitizer (make tsan) sees every access the
 * protocol of src/shm/bcast.h makes: stamps, heads, sleep words. slow=block
 * (under slow=drop a lapped copy races with the publisher by design and is
 * thrown away after its second look). Copy and zero-copy, sleeping and
 * spinning subscribers; every byte checked.
 */
#include <pthread.h>

#include "../test.h"

#define N 50000
#define SUBS 3

static char g_sub[300];
static pthread_barrier_t g_ready;

struct sub_arg {
	int k;
	uint64_t got;
	int rv;
};

static void *
sub_main(void *p)
{
	struct sub_arg *a = p;
	char url[400];
	static const char *const q[SUBS] = {"", "&wait=futex", "&wait=spin"};
	snprintf(url, sizeof(url), "%s%s", g_sub, q[a->k]);
	struct ipk_opts o = {.timeout_ms = 5000};
	struct ipk_chan *s;
	a->rv = ipk_dial(url, &o, &s);
	pthread_barrier_wait(&g_ready);
	if (a->rv)
		return NULL;
	for (uint64_t i = 0; i < N; i++) {
		const void *m;
		unsigned char buf[256];
		size_t len;
		if (a->k == 1) {
			a->rv = ipk_peek(s, &m, &len, NULL, 10000);
		} else {
			a->rv =
			    ipk_recv(s, buf, sizeof(buf), &len, NULL, 10000);
			m = buf;
		}
		if (a->rv)
			break;
		uint64_t seq;
		memcpy(&seq, m, 8);
		if (seq != i || !t_check((const char *)m + 8, len - 8, 7, i)) {
			a->rv = -EBADMSG;
			break;
		}
		if (a->k == 1 && (a->rv = ipk_release(s)) != 0)
			break;
		a->got++;
	}
	ipk_close(s);
	return NULL;
}

static char g_path[300];

/* A failed run leaves no segment behind. */
static void
cleanup(void)
{
	(void)unlink(g_path);
}

int
main(void)
{
	t_watchdog(120);
	snprintf(g_path, sizeof(g_path), "/dev/shm/%s", t_unique());
	t_cleanup_hook = cleanup;
	char url[300];
	snprintf(url, sizeof(url),
	    "shm:///%s?pattern=pub&slow=block&queue=64&maxmsg=256", t_unique());
	snprintf(g_sub, sizeof(g_sub), "shm:///%s?pattern=sub", t_unique());
	struct ipk_chan *pub;
	T_OK(ipk_bind(url, NULL, &pub));
	pthread_barrier_init(&g_ready, NULL, SUBS + 1);
	pthread_t th[SUBS];
	struct sub_arg a[SUBS];
	for (int k = 0; k < SUBS; k++) {
		a[k] = (struct sub_arg){.k = k};
		T_ASSERT(pthread_create(&th[k], NULL, sub_main, &a[k]) == 0);
	}
	pthread_barrier_wait(&g_ready);
	unsigned char m[256];
	for (uint64_t i = 0; i < N; i++) {
		size_t len = 8 + i % 240;
		if (i % 2) {
			void *p;
			T_OK(ipk_loan(pub, len, &p, 10000));
			memcpy(p, &i, 8);
			t_fill((char *)p + 8, len - 8, 7, i);
			T_OK(ipk_commit(pub, len, 0));
		} else {
			memcpy(m, &i, 8);
			t_fill(m + 8, len - 8, 7, i);
			T_OK(ipk_send(pub, m, len, 0, 10000));
		}
	}
	for (int k = 0; k < SUBS; k++) {
		pthread_join(th[k], NULL);
		T_OK(a[k].rv);
		T_EQ(a[k].got, N);
	}
	ipk_close(pub);
	pthread_barrier_destroy(&g_ready);
	printf("PASS transport pubsub threads\n");
	return T_PASS;
}
