/* SPDX-License-Identifier: MIT */
/*
 * operate.c - the public operating calls: inspect one channel from outside,
 * list every registered one, remove one through the transport that owns
 * its kernel objects.
 */
#include "core/ledger.h"
#include "core/transport.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Parse `url` and find a transport that has named objects. */
static int
operate_prepare(
    const char *url, struct ipk__url *u, const struct ipk__transport **tp)
{
	if (!url)
		return ipk__err(-EINVAL, "URL is NULL");
	int rv = ipk__url_parse(url, u);
	if (rv < 0)
		return rv;
	*tp = ipk__transport_find(u->scheme);
	if (!*tp)
		rv = ipk__err(
		    -EINVAL, "%s: unknown scheme '%s'", url, u->scheme);
	else if (!(*tp)->remove || !(*tp)->inspect)
		rv = ipk__err(-ENOTSUP,
		    "%s: %s channels have no named "
		    "objects to inspect or remove",
		    url, u->scheme);
	if (rv < 0)
		ipk__url_free(u);
	return rv;
}

int
ipk_inspect(const char *url, struct ipk_objinfo *out)
{
	ipk__err_clear();
	if (!out)
		return ipk__err(-EINVAL, "inspect: out is NULL");
	struct ipk__url u;
	const struct ipk__transport *t;
	int rv = operate_prepare(url, &u, &t);
	if (rv < 0)
		return rv;
	memset(out, 0, sizeof(*out));
	out->queued_msgs = out->queued_bytes = -1;
	out->cap_msgs = out->cap_bytes = -1;
	(void)ipk__ledger_read(&u, out);
	if (!out->registered) {
		snprintf(out->url, sizeof(out->url), "%s", url);
		snprintf(out->scheme, sizeof(out->scheme), "%s", u.scheme);
	}
	rv = t->inspect(&u, out);
	if (rv == 0)
		out->exists = 1;
	else if (rv == -ENOENT)
		rv = out->registered ? 0
				     : ipk__err(-ENOENT,
					   "%s: no such "
					   "channel",
					   url);
	ipk__url_free(&u);
	return rv;
}

struct operate_list {
	ipk_list_fn fn;
	void *arg;
	struct ipk_objinfo o;
};

static int
operate_list_one(const char *url, void *arg)
{
	struct operate_list *ol = arg;
	if (ipk_inspect(url, &ol->o) < 0)
		return 0;
	return ol->fn(&ol->o, ol->arg);
}

int
ipk_list(ipk_list_fn fn, void *arg)
{
	ipk__err_clear();
	if (!fn)
		return ipk__err(-EINVAL, "list: fn is NULL");
	struct operate_list *ol = ipk__calloc(1, sizeof(*ol));
	if (!ol)
		return -ENOMEM;
	ol->fn = fn;
	ol->arg = arg;
	int rv = ipk__ledger_walk(operate_list_one, ol);
	ipk__free(ol);
	return rv;
}

int
ipk_remove(const char *url, unsigned flags)
{
	ipk__err_clear();
	struct ipk__url u;
	const struct ipk__transport *t;
	int force = (flags & IPK_REMOVE_FORCE) != 0;
	int rv = operate_prepare(url, &u, &t);
	if (rv < 0)
		return rv;
	struct ipk_objinfo *o = ipk__calloc(1, sizeof(*o));
	if (!o) {
		ipk__url_free(&u);
		return -ENOMEM;
	}
	if (ipk__ledger_read(&u, o) == 0 && o->nalive > 0 && !force) {
		for (int i = 0; i < o->nep; i++)
			if (o->ep[i].alive) {
				rv = ipk__err(-EBUSY,
				    "%s: pid %d still has it "
				    "open (--force removes it anyway)",
				    url, (int)o->ep[i].pid);
				break;
			}
		goto out;
	}
	rv = t->remove(&u, force);
	if (rv == 0 || rv == -ENOENT) {
		int gone = ipk__ledger_drop(&u);
		if (rv == -ENOENT && gone < 0)
			rv = ipk__err(-ENOENT, "%s: no such channel", url);
		else
			rv = 0;
	} else {
		ipk__err_prefix(url);
	}
out:
	ipk__free(o);
	ipk__url_free(&u);
	return rv;
}
