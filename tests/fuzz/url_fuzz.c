/* SPDX-License-Identifier: MIT */
/*
 * url_fuzz.c - libFuzzer target: the URL parser and option getters, then
 * the public listen/dial entry points, on arbitrary bytes. Any result is
 * fine except a crash, a leak or a sanitizer report.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct ipk__url u;
	if (ipk__url_parse(s, &u) == 0) {
		uint64_t sz;
		int64_t v;
		const char *str;
		for (int i = 0; i < u.nopt; i++) {
			(void)ipk__url_size(&u, u.key[i], &sz);
			(void)ipk__url_int(&u, u.key[i], -5, 5, &v);
			(void)ipk__url_str(&u, u.key[i], &str);
		}
		ipk__url_free(&u);
	}
	/* Only dial what cannot create anything, block, or adopt one of
	 * this process's descriptors (pipe: with rfd=/wfd=/gfd=): the
	 * parser and option checks run for every scheme before the
	 * transport, so a bad option is answered the same everywhere. */
	if ((strncmp(s, "pipe:", 5) == 0 && !strstr(s, "fd=")) ||
	    strncmp(s, "nosuch:", 7) == 0) {
		struct ipk_chan *c;
		if (ipk_dial(s, NULL, &c) == 0)
			ipk_close(c);
	}
	free(s);
	return 0;
}
