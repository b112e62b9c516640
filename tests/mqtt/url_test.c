/* SPDX-License-Identifier: MIT */
/*
 * url_test.c - mqtt:// addresses that are refused before any broker is
 * asked: bad topics and options, roles a broker does not serve, plain
 * ipk_listen/ipk_dial; and, run without IPK_PLUGIN_DIR from a directory
 * without the plugin, the sentence that says how to get libipckit-mqtt.
 */
#include "test.h"

/* url must fail with code and a sentence containing `part`. */
static void
refused(const char *url, int bind, int code, const char *part)
{
	struct ipk_chan *c = (struct ipk_chan *)1;
	int rv = bind ? ipk_bind(url, NULL, &c) : ipk_dial(url, NULL, &c);
	if (rv != code)
		T_FAILF("%s: expected %s, got %s: %s", url, ipk_errname(code),
		    ipk_errname(rv), ipk_strerror(rv));
	T_ASSERT(c == NULL);
	if (!strstr(ipk_strerror(rv), part))
		T_FAILF("%s: the sentence '%s' lacks '%s'", url,
		    ipk_strerror(rv), part);
}

int
main(void)
{
	const char *base = "mqtt://127.0.0.1:1/";
	char u[256];
	struct ipk_listener *l = (struct ipk_listener *)1;

	/* Plain channels: a broker only publishes and subscribes. */
	snprintf(u, sizeof(u), "%sa/b", base);
	refused(u, 0, -ENOTSUP, "?pattern=pub or ?pattern=sub");
	T_ERR(ipk_listen(u, NULL, &l), -ENOTSUP);
	T_ASSERT(l == NULL);
	T_ASSERT(strstr(ipk_strerror(-ENOTSUP), "ipckit pub"));
	refused("mqtts://127.0.0.1:1/a", 0, -ENOTSUP, "?pattern=");
	refused(u, 1, -EINVAL, "?pattern=pub|sub");
	snprintf(u, sizeof(u), "%sa?pattern=req", base);
	refused(u, 1, -ENOTSUP, "publish/subscribe only");

	/* Addresses and options. */
	static const struct {
		const char *tail, *part;
	} bad[] = {
	    {"a/#?pattern=pub", "without the wildcards"},
	    {"a/b+?pattern=sub", "whole level"},
	    {"a/#/b?pattern=sub", "last one"},
	    {"?pattern=sub", "no topic"},
	    {"a?pattern=sub&qos=3", "qos"},
	    {"a?pattern=sub&clean=0", "id=NAME"},
	    {"a?pattern=sub&retain=1", "retain= is for pub"},
	    {"a?pattern=pub&cafile=/x", "mqtts://"},
	    {"a?pattern=pub&password=x", "user="},
	    {"a?pattern=sub&colour=red", "unknown option 'colour'"},
	    {"a?pattern=pub&topic=b", "topic= is for sub"},
	    {"a?pattern=sub&keepalive=1", "keepalive"},
	    {"a?pattern=pub&slow=block", "unknown option 'slow'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(u, sizeof(u), "%s%s", base, bad[i].tail);
		refused(u, 1, -EINVAL, bad[i].part);
		/* ipk_dial checks option names first, with its own words. */
		struct ipk_chan *c;
		T_ASSERT(ipk_dial(u, NULL, &c) < 0 && c == NULL);
	}
	refused("mqtt:///a?pattern=sub", 1, -EINVAL, "no broker host");
	refused("mqtts://127.0.0.1:1/a?pattern=pub&certfile=/c", 1, -EINVAL,
	    "go together");

	/* The optional part: this program's directory has none and
	 * IPK_PLUGIN_DIR is not set (CTest runs it so). */
	const char *why = ipk_scheme_missing("mqtt");
	T_ASSERT(ipk_scheme_missing("tcp") == NULL);
	T_ASSERT(ipk_scheme_missing("nosuch") != NULL);
	if (!why) {
		printf("libipckit-mqtt is installed where the loader finds it: "
		       "its absence is not shown here\n");
		return T_PASS;
	}
	static const char sentence[] =
	    "mqtt:// needs the optional part libipckit-mqtt, built when "
	    "libmosquitto-dev is installed (apt-get install libmosquitto-dev, "
	    "then rebuild)";
	T_ASSERT(!strcmp(why, sentence));
	snprintf(u, sizeof(u), "%sa/b?pattern=sub", base);
	refused(u, 0, -ENOTSUP, sentence);
	refused("mqtts://127.0.0.1:1/a?pattern=pub", 1, -ENOTSUP, sentence);
	return T_PASS;
}
