/* SPDX-License-Identifier: MIT */
/*
 * registry.c - finds a transport by URL scheme. The list is the X-macro in
 * src/transport/list.h; each entry's table is checked once for required ops.
 */
#include "core/transport.h"

#include <errno.h>
#include <string.h>

#define IPK__TRANSPORT(name)                                                   \
	extern const struct ipk__transport ipk__transport_##name;
#include "transport/list.h"
#undef IPK__TRANSPORT

static const struct ipk__transport *const registry[] = {
#define IPK__TRANSPORT(name) &ipk__transport_##name,
#include "transport/list.h"
#undef IPK__TRANSPORT
    NULL,
};

static const char *registry_names[IPK__ARRAY_LEN(registry)];

int
ipk__transport_check(const struct ipk__transport *t)
{
	const char *missing = NULL;
	if (!t->scheme || !*t->scheme)
		missing = "scheme";
	else if (!t->dial)
		missing = "dial";
	else if (!t->send)
		missing = "send";
	else if (!t->recv)
		missing = "recv";
	else if (!t->fd)
		missing = "fd";
	else if (!t->close)
		missing = "close";
	else if (t->doorbell && !t->ready)
		missing = "ready (doorbell is set)";
	else if (!t->inspect != !t->remove)
		missing = "inspect/remove (both or neither)";
	else if (t->listen && (!t->accept || !t->lclose))
		missing = "accept/lclose (listen is set)";
	else if (!!t->loan + !!t->commit + !!t->peek + !!t->release != 0 &&
	    !!t->loan + !!t->commit + !!t->peek + !!t->release != 4)
		missing = "loan/commit/peek/release (all four or none)";
	if (missing)
		return ipk__err(-EINVAL, "transport '%s' lacks %s",
		    t->scheme ? t->scheme : "?", missing);
	return 0;
}

const struct ipk__transport *
ipk__transport_at(size_t i)
{
	return i < IPK__ARRAY_LEN(registry) ? registry[i] : NULL;
}

const struct ipk__transport *
ipk__transport_find(const char *scheme)
{
	for (size_t i = 0; registry[i]; i++) {
		if (strcmp(registry[i]->scheme, scheme) != 0)
			continue;
		/* A broken table is a build bug, caught by the unit test. */
		IPK__ASSERT(ipk__transport_check(registry[i]) == 0);
		return registry[i];
	}
	return NULL;
}

const char *const *
ipk_schemes(void)
{
	/* Idempotent fill: racing threads write the same pointers. */
	for (size_t i = 0; registry[i]; i++)
		__atomic_store_n(
		    &registry_names[i], registry[i]->scheme, __ATOMIC_RELAXED);
	return registry_names;
}

unsigned
ipk_scheme_caps(const char *scheme)
{
	const struct ipk__transport *t =
	    scheme ? ipk__transport_find(scheme) : NULL;
	return t ? t->caps : 0;
}

const char *
ipk_scheme_missing(const char *scheme)
{
	const struct ipk__transport *t =
	    scheme ? ipk__transport_find(scheme) : NULL;
	if (!t)
		return "unknown scheme";
	return t->missing ? t->missing() : NULL;
}
