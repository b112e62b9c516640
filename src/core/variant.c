/* SPDX-License-Identifier: MIT */
/*
 * variant.c - what a transport's table says of how to run it: its variants
 * and an example address (ipk_scheme_variant, ipk_scheme_url). Tests, the
 * benchmark and the CLI build their rows and addresses from these, never
 * from a list of mechanisms of their own.
 */
#include "core/transport.h"

#include <errno.h>
#include <string.h>

#define VARIANT_NAME_MAX 64

/* The transport of "shm/futex" or "shm", or NULL. */
static const struct ipk__transport *
variant_transport(const char *variant)
{
	char scheme[32];
	size_t n = strcspn(variant, "/");
	if (n == 0 || n >= sizeof(scheme))
		return NULL;
	memcpy(scheme, variant, n);
	scheme[n] = '\0';
	return ipk__transport_find(scheme);
}

int
ipk_scheme_variant(const char *scheme, size_t i, struct ipk_variant *out)
{
	const struct ipk__transport *t =
	    scheme && out ? ipk__transport_find(scheme) : NULL;
	if (!t)
		return -EINVAL;
	if (t->variants) {
		for (size_t k = 0; t->variants[k].name; k++)
			if (k == i) {
				*out = t->variants[k];
				return 0;
			}
		return -ENOENT;
	}
	if (i > 0)
		return -ENOENT;
	/* The default: the bare scheme. The crash matrix kills processes
	 * and counts every message, which thread-only and lossy transports
	 * cannot give it. */
	*out = (struct ipk_variant){t->scheme, "", "", IPK__VARIANT_ALL};
	if (t->caps & (IPK_CAP_THREADS | IPK_CAP_LOSSY))
		out->flags &= ~IPK_VARIANT_CRASH;
	return 0;
}

/* The query of `variant` ("" for a bare scheme), or NULL if unknown. */
static const char *
variant_query(const struct ipk__transport *t, const char *variant)
{
	if (!strcmp(variant, t->scheme))
		return "";
	for (size_t k = 0; t->variants && t->variants[k].name; k++)
		if (!strcmp(t->variants[k].name, variant))
			return t->variants[k].query;
	return NULL;
}

static int
variant_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > VARIANT_NAME_MAX)
		return 0;
	return strspn(name,
		   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789.-_") == n;
}

int
ipk_scheme_url(const char *variant, const char *name, char *buf, size_t cap)
{
	if (!variant || !name || !buf)
		return -EINVAL;
	if (cap)
		buf[0] = '\0';
	const struct ipk__transport *t = variant_transport(variant);
	const char *q = t ? variant_query(t, variant) : NULL;
	if (!q)
		return ipk__err(-EINVAL, "no transport variant '%s'", variant);
	if (!t->example)
		return ipk__err(-ENOTSUP,
		    "transport '%s' has no example address", t->scheme);
	if (!variant_name_ok(name))
		return ipk__err(-EINVAL,
		    "name '%s' for an example address: 1 to %d letters, "
		    "digits, '.', '-' or '_'",
		    name, VARIANT_NAME_MAX);
	/* "%s" in the template is the name; nothing else is interpreted. */
	const char *ex = t->example, *at = strstr(ex, "%s");
	const char *sep = !*q ? "" : strchr(ex, '?') ? "&" : "?";
	const char *part[] = {ex, name, at ? at + 2 : "", sep, q};
	size_t plen[] = {at ? (size_t)(at - ex) : strlen(ex),
	    at ? strlen(name) : 0, strlen(part[2]), strlen(sep), strlen(q)};
	size_t len = 0;
	for (size_t i = 0; i < IPK__ARRAY_LEN(part); i++)
		len += plen[i];
	if (len >= cap)
		return ipk__err(-ENAMETOOLONG,
		    "the address of %s needs %zu bytes, the buffer has %zu",
		    variant, len + 1, cap);
	char *p = buf;
	for (size_t i = 0; i < IPK__ARRAY_LEN(part); i++) {
		memcpy(p, part[i], plen[i]);
		p += plen[i];
	}
	*p = '\0';
	return (int)len;
}
