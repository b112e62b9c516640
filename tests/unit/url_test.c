/* SPDX-License-Identifier: MIT */
/* url_test.c - the URL parser against a table of good and bad addresses. */
#include "core/internal.h"
#include "test.h"

struct good {
	const char *text, *scheme, *host, *port, *path;
	int nopt;
	const char *k0, *v0;
};

static const struct good goods[] = {
    {"fifo:///tmp/x", "fifo", "", "", "/tmp/x", 0, NULL, NULL},
    {"shm:///name?size=8M&wait=spin", "shm", "", "", "/name", 2, "size", "8M"},
    {"tcp://127.0.0.1:5555", "tcp", "127.0.0.1", "5555", "", 0, NULL, NULL},
    {"tcp://[::1]:80", "tcp", "::1", "80", "", 0, NULL, NULL},
    {"tcp://localhost:0?timeout=100", "tcp", "localhost", "0", "", 1, "timeout",
	"100"},
    {"unix:///run/a.sock", "unix", "", "", "/run/a.sock", 0, NULL, NULL},
    {"unix://@abstract-name", "unix", "", "", "@abstract-name", 0, NULL, NULL},
    {"inproc://chan_1", "inproc", "chan_1", "", "", 0, NULL, NULL},
    {"sysv:0x1234", "sysv", "", "", "0x1234", 0, NULL, NULL},
    {"sysv:///tmp/key", "sysv", "", "", "/tmp/key", 0, NULL, NULL},
    {"pipe:?rfd=3&wfd=4&gfd=5", "pipe", "", "", "", 3, "rfd", "3"},
    {"nng+tcp://h.example:1", "nng+tcp", "h.example", "1", "", 0, NULL, NULL},
    {"tcp://host:7/x/y", "tcp", "host", "7", "/x/y", 0, NULL, NULL},
    {"fifo:///tmp/with space", "fifo", "", "", "/tmp/with space", 0, NULL,
	NULL},
};

static const char *const bads[] = {
    "",
    "x",
    ":///a",
    "Fifo:///a",
    "1fifo:///a",
    "fi fo:///a",
    "fifo:///a?",
    "fifo:///a?k",
    "fifo:///a?=v",
    "fifo:///a?k=",
    "fifo:///a?K=v",
    "fifo:///a?k=v&",
    "fifo:///a?k=v&k=w",
    "fifo:///"
    "a?a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1&l=1&m=1&n=1&o=1&p=1&q=1",
    "tcp://[::1",
    "tcp://[::1]x",
    "tcp://[zz]:1",
    "tcp://h:",
    "tcp://h:x",
    "tcp://h:65536",
    "tcp://h:123456",
    "tcp://h$:1",
    "unix://@",
    "fifo:///a//b",
    "fifo:///a\n",
    "fifo:///a\x7f",
    "tcp://h:-1",
};

static void
test_good(void)
{
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct ipk__url u;
		int rv = ipk__url_parse(g->text, &u);
		if (rv != 0)
			T_FAILF("parse('%s') = %s: %s", g->text,
			    ipk_errname(rv), ipk_strerror(rv));
		if (strcmp(u.scheme, g->scheme) || strcmp(u.host, g->host) ||
		    strcmp(u.port, g->port) || strcmp(u.path, g->path))
			T_FAILF("parse('%s'): got scheme '%s' host '%s' port "
				"'%s' path '%s'",
			    g->text, u.scheme, u.host, u.port, u.path);
		T_EQ(u.nopt, g->nopt);
		if (g->k0) {
			const char *v;
			T_EQ(ipk__url_str(&u, g->k0, &v), 0);
			T_ASSERT(!strcmp(v, g->v0));
		}
		T_ASSERT(!strcmp(u.text, g->text));
		ipk__url_free(&u);
	}
}

static void
test_bad(void)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct ipk__url u;
		int rv = ipk__url_parse(bads[i], &u);
		if (rv != -EINVAL)
			T_FAILF(
			    "parse('%s') = %d, expected EINVAL", bads[i], rv);
		const char *msg;
		T_EQ(ipk__err_last(&msg), -EINVAL);
		T_ASSERT(msg[0] != '\0');
		T_ASSERT(u.buf == NULL);
	}
	struct ipk__url u;
	T_EQ(ipk__url_parse(NULL, &u), -EINVAL);
	char *huge = malloc(5000);
	memset(huge, 'a', 4999);
	memcpy(huge, "fifo:///", 8);
	huge[4999] = '\0';
	T_EQ(ipk__url_parse(huge, &u), -EINVAL);
	free(huge);
}

static void
test_options(void)
{
	struct ipk__url u;
	T_OK(ipk__url_parse(
	    "shm:///x?size=8M&n=12&neg=-3&bad=8Q&big=99999999999T", &u));
	uint64_t sz = 0;
	int64_t v = 0;
	T_EQ(ipk__url_size(&u, "size", &sz), 0);
	T_EQ(sz, 8u << 20);
	T_EQ(ipk__url_size(&u, "absent", &sz), 1);
	T_EQ(ipk__url_size(&u, "bad", &sz), -EINVAL);
	T_EQ(ipk__url_size(&u, "big", &sz), -EINVAL);
	T_EQ(ipk__url_int(&u, "n", 0, 100, &v), 0);
	T_EQ(v, 12);
	T_EQ(ipk__url_int(&u, "n", 0, 10, &v), -EINVAL);
	T_EQ(ipk__url_int(&u, "neg", -5, 5, &v), 0);
	T_EQ(v, -3);
	T_EQ(ipk__url_int(&u, "size", 0, 100, &v), -EINVAL);
	ipk__url_free(&u);

	static const struct {
		const char *s;
		uint64_t v;
	} sizes[] = {{"0", 0}, {"4096", 4096}, {"64K", 65536}, {"64k", 65536},
	    {"8M", 8u << 20}, {"1G", 1u << 30}, {"2MiB", 2u << 20},
	    {"3KB", 3072}};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		T_EQ(ipk__parse_size(sizes[i].s, &sz), 0);
		T_EQ(sz, sizes[i].v);
	}
	const char *badsz[] = {"", "K", "-1", "1X", "1.5M",
	    "18446744073709551616", "17179869184G", "1 M"};
	for (size_t i = 0; i < sizeof(badsz) / sizeof(badsz[0]); i++)
		if (ipk__parse_size(badsz[i], &sz) != -EINVAL)
			T_FAILF("parse_size('%s') accepted", badsz[i]);
}

int
main(void)
{
	t_watchdog(30);
	test_good();
	test_bad();
	test_options();
	printf("PASS url\n");
	return T_PASS;
}
