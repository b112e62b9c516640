/* SPDX-License-Identifier: MIT */
/*
 * mqtt.c - publish/subscribe through an MQTT broker: mqtt://host:port/topic
 * and mqtts:// (TLS). The core stays libc-only: this file parses and checks
 * the address, then hands the connection to the optional part
 * libipckit-mqtt.so.0 (src/mqtt/, built on libmosquitto), loaded with
 * dlopen() the first time an mqtt address is opened (core/plugin.h).
 *
 * The plugin is looked for, in order: beside the object that holds this
 * code (libipckit.so.0's directory, or the program's when the core is
 * linked statically; found with dladdr), in $IPK_PLUGIN_DIR, then by the
 * dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache). The first
 * keeps a library and its plugin from the same build together.
 *
 * Only ?pattern=pub and ?pattern=sub exist (ipk_bind and ipk_dial both
 * connect to the broker); a plain ipk_listen or ipk_dial is refused with a
 * sentence that says so.
 */
#include "core/plugin.h"
#include "core/transport.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MQTT_QUEUE 1024 /* default ?queue= */
#define MQTT_QUEUE_MAX 1048576
#define MQTT_KEEPALIVE 30
#define MQTT_MAX_PAYLOAD 268435455u /* the protocol's remaining length */

struct mqtt_chan {
	const struct ipk__mqtt_ops *ops;
	void *st;
};

static const char *const mqtt_options[] = {"qos", "retain", "clean", "id",
    "user", "password", "cafile", "capath", "certfile", "keyfile", "insecure",
    "bridge", "keepalive", NULL};

static const char mqtt_absent[] =
    "mqtt:// needs the optional part libipckit-mqtt, built when "
    "libmosquitto-dev is installed (apt-get install libmosquitto-dev, then "
    "rebuild)";

/* --- Loading the optional part ------------------------------------------ */

static pthread_once_t mqtt_once = PTHREAD_ONCE_INIT;
static const struct ipk__mqtt_ops *mqtt_ops;
static char mqtt_why[512]; /* why it is not there, when it is not */

static int
mqtt_core_err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ipk__verr(code, fmt, ap);
	va_end(ap);
	return code;
}

static const struct ipk__plugin_core mqtt_core = {
    .version = IPK__PLUGIN_VERSION,
    .size = sizeof(struct ipk__plugin_core),
    .err = mqtt_core_err,
    .malloc = ipk__malloc,
    .calloc = ipk__calloc,
    .free = ipk__free,
    .now_ns = ipk__now_ns,
};

/* dlopen `path`; 1 when it gave usable ops, 0 when absent, -1 when it
 * was there and refused (mqtt_why says why). */
static int
mqtt_try(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		/* A file that exists but does not load is worth saying. */
		if (strchr(path, '/') && access(path, F_OK) == 0) {
			snprintf(mqtt_why, sizeof(mqtt_why), "%s: %s", path,
			    e ? e : "cannot be loaded");
			return -1;
		}
		return 0;
	}
	ipk__mqtt_init_fn init;
	*(void **)&init = dlsym(h, IPK__MQTT_INIT);
	const struct ipk__mqtt_ops *ops = init ? init(&mqtt_core) : NULL;
	if (!ops || ops->version != IPK__PLUGIN_VERSION ||
	    ops->size < sizeof(*ops)) {
		snprintf(mqtt_why, sizeof(mqtt_why),
		    "%s was built for another version of libipckit "
		    "(interface %u, this one %u): rebuild or reinstall both",
		    path, ops ? ops->version : 0, IPK__PLUGIN_VERSION);
		dlclose(h);
		return -1;
	}
	mqtt_ops = ops; /* kept loaded for the life of the process */
	return 1;
}

static void
mqtt_load(void)
{
	char path[PATH_MAX];
	Dl_info di;
	int rv = 0;
	if (dladdr((void *)&mqtt_try, &di) && di.dli_fname) {
		const char *f = di.dli_fname;
		char exe[PATH_MAX];
		if (f[0] != '/') {
			/* The main program: dladdr gives its name as run. */
			ssize_t n =
			    readlink("/proc/self/exe", exe, sizeof(exe) - 1);
			exe[n > 0 ? n : 0] = '\0';
			f = exe;
		}
		const char *slash = strrchr(f, '/');
		if (slash &&
		    snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - f), f,
			IPK__MQTT_SONAME) < (int)sizeof(path))
			rv = mqtt_try(path);
	}
	const char *dir = secure_getenv("IPK_PLUGIN_DIR");
	if (rv == 0 && dir && *dir &&
	    snprintf(path, sizeof(path), "%s/%s", dir, IPK__MQTT_SONAME) <
		(int)sizeof(path))
		rv = mqtt_try(path);
	if (rv == 0)
		rv = mqtt_try(IPK__MQTT_SONAME);
	if (rv == 0)
		snprintf(mqtt_why, sizeof(mqtt_why), "%s", mqtt_absent);
}

static const char *
mqtt_missing(void)
{
	pthread_once(&mqtt_once, mqtt_load);
	return mqtt_ops ? NULL : mqtt_why;
}

/* --- Refusals ----------------------------------------------------------- */

static int
mqtt_plain(const char *url)
{
	return ipk__err(-ENOTSUP,
	    "%s: an MQTT broker publishes and subscribes: open it with "
	    "?pattern=pub or ?pattern=sub (ipk_bind or ipk_dial), or use "
	    "`ipckit pub` / `ipckit sub`",
	    url);
}

static int
mqtt_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	return mqtt_plain(u->text);
}

static int
mqtt_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	return -ENOTSUP;
}

static void
mqtt_lclose(struct ipk_listener *l)
{
}

static int
mqtt_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	return mqtt_plain(u->text);
}

/* --- The channel: every op goes to the plugin --------------------------- */

static struct mqtt_chan *
mqtt_of(struct ipk_chan *c)
{
	return ipk__chan_priv(c);
}

static int
mqtt_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct mqtt_chan *m = mqtt_of(c);
	if (!m->st)
		return -ENOTSUP;
	return m->ops->send(m->st, buf, len, type, deadline);
}

static int
mqtt_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	struct mqtt_chan *m = mqtt_of(c);
	if (!m->st)
		return -ENOTSUP;
	return m->ops->recv(m->st, buf, cap, len, type, deadline);
}

static int
mqtt_fd(struct ipk_chan *c)
{
	struct mqtt_chan *m = mqtt_of(c);
	return m->st ? m->ops->fd(m->st) : -ENOTSUP;
}

static int
mqtt_ready(struct ipk_chan *c)
{
	struct mqtt_chan *m = mqtt_of(c);
	return m->st ? m->ops->ready(m->st) : 0;
}

static int
mqtt_writable(struct ipk_chan *c)
{
	struct mqtt_chan *m = mqtt_of(c);
	return m->st ? m->ops->writable(m->st) : 1;
}

static int
mqtt_wfd(struct ipk_chan *c, short *events)
{
	*events = POLLIN; /* the doorbell rings on acknowledgements */
	return mqtt_fd(c);
}

static int
mqtt_subscribe(struct ipk_chan *c, const void *prefix, size_t len)
{
	struct mqtt_chan *m = mqtt_of(c);
	if (!m->st)
		return -ENOTSUP;
	if (len == 0 || len > 65535 || memchr(prefix, 0, len))
		return ipk__err(-EINVAL,
		    "subscribe: a topic filter is 1 to 65535 bytes "
		    "without NUL ('#' takes every topic)");
	char *f = ipk__malloc(len + 1);
	if (!f)
		return -ENOMEM;
	memcpy(f, prefix, len);
	f[len] = '\0';
	int rv = m->ops->subscribe(m->st, f);
	ipk__free(f);
	return rv;
}

static int
mqtt_flush(struct ipk_chan *c, int64_t deadline)
{
	struct mqtt_chan *m = mqtt_of(c);
	return m->st ? m->ops->flush(m->st, deadline) : 0;
}

static void
mqtt_close(struct ipk_chan *c)
{
	struct mqtt_chan *m = mqtt_of(c);
	if (m->st)
		m->ops->close(m->st);
	m->st = NULL;
}

/* --- Opening: the options, checked here, then the plugin ---------------- */

static int
mqtt_known(const char *key)
{
	static const char *const common[] = {
	    "pattern", "topic", "queue", "maxmsg", "timeout", NULL};
	for (const char *const *p = common; *p; p++)
		if (!strcmp(*p, key))
			return 1;
	for (const char *const *p = mqtt_options; *p; p++)
		if (!strcmp(*p, key))
			return 1;
	return 0;
}

/* A topic to publish to: no wildcard, no NUL, not empty. */
static int
mqtt_topic_ok(const char *t, int filter)
{
	size_t n = strlen(t);
	if (n == 0 || n > 65535)
		return 0;
	if (filter) {
		/* '#' only as the last level, '+' only as a whole level. */
		for (size_t i = 0; i < n; i++) {
			int start = i == 0 || t[i - 1] == '/';
			int end = i + 1 == n || t[i + 1] == '/';
			if (t[i] == '#' && !(start && i + 1 == n))
				return 0;
			if (t[i] == '+' && !(start && end))
				return 0;
		}
		return 1;
	}
	return !strpbrk(t, "+#");
}

static int
mqtt_bool(const struct ipk__url *u, const char *key, int *out)
{
	int64_t v;
	int rv = ipk__url_int(u, key, 0, 1, &v);
	if (rv == 0)
		*out = (int)v;
	return rv < 0 ? rv : 0;
}

static int
mqtt_conf(const struct ipk__url *u, const struct ipk_opts *o, int tls,
    const char *role, struct ipk__mqtt_conf *k)
{
	const char *url = u->text;
	int64_t v;
	int rv;
	for (int i = 0; i < u->nopt; i++)
		if (!mqtt_known(u->key[i]))
			return ipk__err(-EINVAL,
			    "%s: unknown option '%s' for mqtt (qos, retain, "
			    "clean, id, user, password, cafile, capath, "
			    "certfile, keyfile, insecure, bridge, keepalive, "
			    "topic, queue, maxmsg, timeout)",
			    url, u->key[i]);
	if (!strcmp(role, "pub"))
		k->role = IPK__MQTT_PUB;
	else if (!strcmp(role, "sub"))
		k->role = IPK__MQTT_SUB;
	else if (!*role)
		return ipk__err(
		    -EINVAL, "%s: ipk_bind needs ?pattern=pub|sub", url);
	else
		return ipk__err(-ENOTSUP,
		    "%s: a broker serves publish/subscribe only: "
		    "?pattern=pub or ?pattern=sub, not '%s'",
		    url, role);
	k->url = url;
	k->tls = tls;
	if (!*u->host)
		return ipk__err(-EINVAL,
		    "%s: no broker host (mqtt://host:port/topic)", url);
	k->host = u->host;
	/* The URL parser has checked the port: 1 to 5 digits, <= 65535. */
	k->port = *u->port ? (int)strtol(u->port, NULL, 10) : tls ? 8883 : 1883;
	if (k->port == 0)
		return ipk__err(
		    -EINVAL, "%s: port 0: name the broker's port", url);
	k->topic = u->path[0] == '/' ? u->path + 1 : u->path;
	if (!*k->topic)
		return ipk__err(-EINVAL,
		    "%s: no topic (mqtt://host:port/topic, the path without "
		    "its leading '/')",
		    url);
	if (!mqtt_topic_ok(k->topic, k->role == IPK__MQTT_SUB))
		return ipk__err(-EINVAL,
		    k->role == IPK__MQTT_SUB
			? "%s: topic filter '%s': '+' stands for a whole "
			  "level, '#' only for the last one"
			: "%s: topic '%s': a publisher names one topic, "
			  "without the wildcards '+' and '#'",
		    url, k->topic);
	if ((rv = ipk__url_int(u, "qos", 0, 2, &v)) < 0)
		return rv;
	k->qos = rv == 0 ? (int)v : 0;
	k->clean = 1;
	if ((rv = mqtt_bool(u, "retain", &k->retain)) < 0 ||
	    (rv = mqtt_bool(u, "clean", &k->clean)) < 0 ||
	    (rv = mqtt_bool(u, "insecure", &k->insecure)) < 0)
		return rv;
	if (k->retain && k->role != IPK__MQTT_PUB)
		return ipk__err(-EINVAL, "%s: retain= is for pub", url);
	(void)ipk__url_str(u, "id", &k->id);
	if (k->id && (strlen(k->id) > 65535))
		return ipk__err(-EINVAL, "%s: id= too long", url);
	if (!k->clean && !k->id)
		return ipk__err(-EINVAL,
		    "%s: clean=0 keeps a session at the broker under a name: "
		    "give it with id=NAME",
		    url);
	(void)ipk__url_str(u, "user", &k->user);
	(void)ipk__url_str(u, "password", &k->password);
	if (!k->password && k->user) {
		const char *env = secure_getenv("IPK_MQTT_PASSWORD");
		if (env && *env)
			k->password = env;
	}
	if (k->password && !k->user)
		return ipk__err(-EINVAL, "%s: a password needs user=", url);
	(void)ipk__url_str(u, "cafile", &k->cafile);
	(void)ipk__url_str(u, "capath", &k->capath);
	(void)ipk__url_str(u, "certfile", &k->certfile);
	(void)ipk__url_str(u, "keyfile", &k->keyfile);
	if (!tls &&
	    (k->cafile || k->capath || k->certfile || k->keyfile ||
		k->insecure))
		return ipk__err(-EINVAL,
		    "%s: cafile=, capath=, certfile=, keyfile= and insecure= "
		    "are for mqtts://",
		    url);
	if (!k->certfile != !k->keyfile)
		return ipk__err(
		    -EINVAL, "%s: certfile= and keyfile= go together", url);
	(void)ipk__url_str(u, "bridge", &k->bridge);
	k->keepalive = MQTT_KEEPALIVE;
	if ((rv = ipk__url_int(u, "keepalive", 5, 65535, &v)) < 0)
		return rv;
	if (rv == 0)
		k->keepalive = (int)v;
	k->queue = MQTT_QUEUE;
	if ((rv = ipk__url_int(u, "queue", 1, MQTT_QUEUE_MAX, &v)) < 0)
		return rv;
	if (rv == 0)
		k->queue = (size_t)v;
	k->max_msg = o && o->max_msg ? o->max_msg : (size_t)IPK_DEFAULT_MAX_MSG;
	uint64_t sz;
	if ((rv = ipk__url_size(u, "maxmsg", &sz)) < 0)
		return rv;
	if (rv == 0)
		k->max_msg = (size_t)sz;
	if (k->max_msg == 0 || k->max_msg > MQTT_MAX_PAYLOAD - 65536)
		return ipk__err(-EINVAL,
		    "%s: maxmsg from 1 byte to 255M (MQTT's packet limit)",
		    url);
	int tmo = o ? o->timeout_ms : 0;
	if ((rv = ipk__url_int(u, "timeout", -1, 1 << 30, &v)) < 0)
		return rv;
	if (rv == 0)
		tmo = (int)v;
	k->deadline = ipk__deadline(tmo);
	for (int i = 0; i < u->nopt; i++)
		if (!strcmp(u->key[i], "topic") &&
		    (k->role != IPK__MQTT_SUB || !mqtt_topic_ok(u->val[i], 1)))
			return ipk__err(-EINVAL,
			    k->role != IPK__MQTT_SUB
				? "%s: topic= is for sub"
				: "%s: topic filter '%s': '+' stands for a "
				  "whole level, '#' only for the last one",
			    url, u->val[i]);
	return 0;
}

static int
mqtt_pattern_tls(const char *url, const struct ipk__url *u,
    const struct ipk_opts *o, int bind, const char *role, struct ipk_chan **out,
    const struct ipk__transport *t, int tls)
{
	struct ipk__mqtt_conf k = {0};
	int rv = mqtt_conf(u, o, tls, role, &k);
	if (rv < 0)
		return rv;
	const char *why = mqtt_missing();
	if (why)
		return ipk__err(-ENOTSUP, "%s", why);
	struct ipk_chan *c = ipk__chan_new(t, url, k.max_msg, 0600);
	if (!c)
		return -ENOMEM;
	struct mqtt_chan *m = mqtt_of(c);
	m->ops = mqtt_ops;
	k.stats = c->stats;
	rv = m->ops->open(&k, &m->st);
	if (rv == 0) {
		/* Extra filters: ?topic= (repeatable) beside the path. */
		for (int i = 0; i < u->nopt && rv == 0; i++)
			if (!strcmp(u->key[i], "topic"))
				rv = m->ops->subscribe(m->st, u->val[i]);
	}
	if (rv < 0) {
		ipk__err_prefix(url);
		(void)ipk_close(c);
		return rv;
	}
	*out = c;
	return 0;
}

extern const struct ipk__transport ipk__transport_mqtt;
extern const struct ipk__transport ipk__transport_mqtts;

static int
mqtt_pattern(const char *url, const struct ipk__url *u,
    const struct ipk_opts *o, int bind, const char *role, struct ipk_chan **out)
{
	return mqtt_pattern_tls(
	    url, u, o, bind, role, out, &ipk__transport_mqtt, 0);
}

static int
mqtts_pattern(const char *url, const struct ipk__url *u,
    const struct ipk_opts *o, int bind, const char *role, struct ipk_chan **out)
{
	return mqtt_pattern_tls(
	    url, u, o, bind, role, out, &ipk__transport_mqtts, 1);
}

/* No generic runs: the contract suite, the crash matrix and the bench
 * rows of plain channels need a listener of ipckit's own; tests/mqtt and
 * bench/subj_mqtt.c start a broker instead. REATTACH and PERSIST: a
 * subscriber with a session (clean=0&id=) comes back to what was published
 * meanwhile, after its publisher may have gone. */
#define MQTT_CAPS                                                              \
	(IPK_CAP_REMOTE | IPK_CAP_BOUNDARIES | IPK_CAP_TYPES |                 \
	    IPK_CAP_BROKER | IPK_CAP_PUBSUB | IPK_CAP_REATTACH |               \
	    IPK_CAP_PERSIST)

const struct ipk__transport ipk__transport_mqtt = {
    .scheme = "mqtt",
    .caps = MQTT_CAPS,
    .chan_size = sizeof(struct mqtt_chan),
    .options = mqtt_options,
    .example = "mqtt://127.0.0.1:1883/%s",
    .variants = IPK__VARIANTS({"mqtt", "", "broker (network thread)", 0}),
    .listen = mqtt_listen,
    .accept = mqtt_accept,
    .lclose = mqtt_lclose,
    .dial = mqtt_dial,
    .send = mqtt_send,
    .recv = mqtt_recv,
    .fd = mqtt_fd,
    .ready = mqtt_ready,
    .doorbell = 1,
    .writable = mqtt_writable,
    .wfd = mqtt_wfd,
    .pattern = mqtt_pattern,
    .subscribe = mqtt_subscribe,
    .flush = mqtt_flush,
    .missing = mqtt_missing,
    .close = mqtt_close,
};

const struct ipk__transport ipk__transport_mqtts = {
    .scheme = "mqtts",
    .caps = MQTT_CAPS,
    .chan_size = sizeof(struct mqtt_chan),
    .options = mqtt_options,
    .example = "mqtts://127.0.0.1:8883/%s",
    .variants = IPK__VARIANTS({"mqtts", "", "broker (network thread)", 0}),
    .listen = mqtt_listen,
    .accept = mqtt_accept,
    .lclose = mqtt_lclose,
    .dial = mqtt_dial,
    .send = mqtt_send,
    .recv = mqtt_recv,
    .fd = mqtt_fd,
    .ready = mqtt_ready,
    .doorbell = 1,
    .writable = mqtt_writable,
    .wfd = mqtt_wfd,
    .pattern = mqtts_pattern,
    .subscribe = mqtt_subscribe,
    .flush = mqtt_flush,
    .missing = mqtt_missing,
    .close = mqtt_close,
};
