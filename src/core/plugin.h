/* SPDX-License-Identifier: MIT */
/*
 * plugin.h - the interface between the core and an optional part loaded at
 * run time with dlopen(): today libipckit-mqtt.so.0 (src/mqtt/), which
 * brings libmosquitto so that the core itself needs only libc.
 *
 * The plugin keeps no state of the core: it does not link libipckit (a
 * program may have the core linked statically, and a second copy would
 * have its own thread-local error record). At load the core hands it a
 * table of callbacks (struct ipk__plugin_core) and takes back a table of
 * ops (struct ipk__mqtt_ops). Both start with a version and their size:
 * a plugin built from another version of the tree is refused with a
 * sentence, never called.
 *
 * Every op follows src/core/transport.h: 0 or a negative code, a sentence
 * recorded through core->err when the code alone does not say enough,
 * deadlines as absolute CLOCK_MONOTONIC nanoseconds (INT64_MAX: forever).
 */
#ifndef IPK_CORE_PLUGIN_H
#define IPK_CORE_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ipckit.h"

#define IPK__PLUGIN_VERSION 1

/* What the core lends a plugin. Valid for the life of the process. */
struct ipk__plugin_core {
	unsigned version; /* IPK__PLUGIN_VERSION */
	size_t size; /* sizeof(struct ipk__plugin_core) */
	/* Record a sentence for the calling thread and return code. */
	int (*err)(int code, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
	/* The core's allocator (tests make its N-th call fail). */
	void *(*malloc)(size_t n);
	void *(*calloc)(size_t n, size_t size);
	void (*free)(void *p);
	int64_t (*now_ns)(void);
};

/* The roles an mqtt channel takes. */
#define IPK__MQTT_PUB 1
#define IPK__MQTT_SUB 2

#define IPK__MQTT_MAXFILTER 64 /* topic filters of one subscriber */

/*
 * One mqtt address, parsed and checked by the core (src/transport/mqtt.c):
 * the plugin only connects. Strings belong to the caller and live only
 * during open; the plugin copies what it keeps.
 */
struct ipk__mqtt_conf {
	const char *url; /* for sentences */
	int role; /* IPK__MQTT_PUB or IPK__MQTT_SUB */
	int tls; /* mqtts:// */
	const char *host;
	int port;
	const char *topic; /* pub: the topic; sub: the first filter */
	int qos; /* 0, 1, 2 */
	int retain; /* pub: the broker keeps the last message */
	int clean; /* 0: a persistent session named id */
	const char *id; /* client id; NULL: the broker picks one */
	const char *user, *password; /* NULL when absent */
	const char *cafile, *capath, *certfile, *keyfile; /* NULL: absent */
	int insecure; /* mqtts: do not check the broker's host name */
	const char *bridge; /* ?bridge=ID: stamp (pub) or refuse (sub) */
	int keepalive; /* seconds */
	size_t queue; /* pub: messages not yet acknowledged before send
			 waits; sub: messages received and not yet taken
			 before the oldest is dropped (QoS 0) or the
			 broker is made to wait (QoS 1, 2) */
	size_t max_msg;
	int64_t deadline; /* open: try to reach the broker until then (one
			     that accepted is given at least 5 s to answer) */
	struct ipk_stats *stats; /* the channel's counters: gaps, reordered */
};

/* What the plugin does. `st` is what open returned. */
struct ipk__mqtt_ops {
	unsigned version; /* IPK__PLUGIN_VERSION */
	size_t size; /* sizeof(struct ipk__mqtt_ops) */
	/* "libmosquitto 2.0.11": static storage. */
	const char *(*lib)(void);
	/* Connect and, for sub, subscribe; returns once the broker has
	 * answered (CONNACK, SUBACK) or the deadline passed. */
	int (*open)(const struct ipk__mqtt_conf *conf, void **st);
	int (*send)(void *st, const void *buf, size_t len, uint32_t type,
	    int64_t deadline);
	int (*recv)(void *st, void *buf, size_t cap, size_t *len,
	    uint32_t *type, int64_t deadline);
	int (*fd)(void *st); /* readable while ready() would say 1 */
	int (*ready)(void *st);
	int (*writable)(void *st);
	/* sub: add a topic filter (+ and # wildcards). */
	int (*subscribe)(void *st, const char *filter);
	/* pub: wait until every message sent is acknowledged by the broker
	 * (QoS 1, 2) or written to its socket (QoS 0). */
	int (*flush)(void *st, int64_t deadline);
	/* Disconnect without waiting for a broker that does not answer, and
	 * free everything. */
	void (*close)(void *st);
};

/* The one symbol a plugin exports: its ops, or NULL (with a sentence
 * through core->err) when it cannot serve this core. */
typedef const struct ipk__mqtt_ops *(*ipk__mqtt_init_fn)(
    const struct ipk__plugin_core *core);
#define IPK__MQTT_INIT "ipk_mqtt_plugin_init"
#define IPK__MQTT_SONAME "libipckit-mqtt.so.0"

#endif /* IPK_CORE_PLUGIN_H */
