/* SPDX-License-Identifier: MIT */
/*
 * url.c - strict parser for channel addresses:
 *   scheme://[host[:port]]/path?key=value&...   (fifo:///tmp/x, tcp://[::1]:80)
 *   scheme://@abstract                          (unix://@name)
 *   scheme://name                               (inproc://name)
 *   scheme:opaque                               (sysv:0x1234, pipe:)
 * Every malformed part gets -EINVAL and a sentence saying what is wrong.
 * No percent-decoding: names are taken literally.
 */
#include "core/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX_LEN 4096

static int
url_bad(const char *text, const char *why)
{
	return ipk__err(-EINVAL, "invalid URL '%.200s': %s", text, why);
}

static int
url_host_ok(const char *h, int bracketed)
{
	for (const char *p = h; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (bracketed) {
			if (!isxdigit(ch) && ch != ':' && ch != '.')
				return 0;
		} else if (!isalnum(ch) && ch != '.' && ch != '-' &&
		    ch != '_' && ch != '*') {
			return 0;
		}
	}
	return 1;
}

static int
url_parse_query(struct ipk__url *u, char *q, const char *text)
{
	while (q && *q) {
		char *amp = strchr(q, '&');
		if (amp)
			*amp = '\0';
		char *eq = strchr(q, '=');
		if (!eq || eq == q)
			return url_bad(text, "option must be key=value");
		*eq = '\0';
		for (char *k = q; *k; k++)
			if (!islower((unsigned char)*k) &&
			    !isdigit((unsigned char)*k) && *k != '_')
				return url_bad(text,
				    "option names are lower-case letters, "
				    "digits "
				    "and '_'");
		if (eq[1] == '\0')
			return url_bad(text, "option has an empty value");
		for (int i = 0; i < u->nopt; i++)
			if (strcmp(u->key[i], q) == 0)
				return url_bad(text, "option given twice");
		if (u->nopt == IPK__URL_MAXOPT)
			return url_bad(text, "too many options");
		u->key[u->nopt] = q;
		u->val[u->nopt] = eq + 1;
		u->nopt++;
		if (!amp)
			break;
		q = amp + 1;
		if (*q == '\0')
			return url_bad(text, "trailing '&'");
	}
	return 0;
}

static int
url_parse_authority(struct ipk__url *u, char *a, const char *text)
{
	if (a[0] == '@') {
		if (a[1] == '\0')
			return url_bad(text, "empty abstract name after '@'");
		u->path = a;
		return 0;
	}
	char *port = NULL;
	if (a[0] == '[') {
		char *close = strchr(a, ']');
		if (!close)
			return url_bad(text, "missing ']' after IPv6 address");
		*close = '\0';
		u->host = a + 1;
		if (!*u->host || !url_host_ok(u->host, 1))
			return url_bad(text, "bad IPv6 address");
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return url_bad(text, "junk after ']'");
	} else {
		char *colon = strchr(a, ':');
		if (colon) {
			*colon = '\0';
			port = colon + 1;
		}
		u->host = a;
		if (!url_host_ok(a, 0))
			return url_bad(text, "bad character in host name");
	}
	if (port) {
		if (!*port)
			return url_bad(text, "empty port");
		if (strlen(port) > 5)
			return url_bad(text, "port out of range (0-65535)");
		for (char *p = port; *p; p++)
			if (!isdigit((unsigned char)*p))
				return url_bad(text, "port must be a number");
		if (strtol(port, NULL, 10) > 65535)
			return url_bad(text, "port out of range (0-65535)");
		u->port = port;
	}
	return 0;
}

int
ipk__url_parse(const char *text, struct ipk__url *u)
{
	memset(u, 0, sizeof(*u));
	if (!text)
		return ipk__err(-EINVAL, "URL is NULL");
	size_t n = strnlen(text, URL_MAX_LEN + 1);
	if (n == 0)
		return ipk__err(-EINVAL, "URL is empty");
	if (n > URL_MAX_LEN)
		return ipk__err(
		    -EINVAL, "URL longer than %d bytes", URL_MAX_LEN);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			return url_bad(text, "control character");

	/* One buffer: the parsed copy, then the original text. */
	char *buf = ipk__malloc(2 * n + 2);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, text, n + 1);
	memcpy(buf + n + 1, text, n + 1);
	u->buf = buf;
	u->text = buf + n + 1;
	u->host = u->port = u->path = "";

	char *colon = strchr(buf, ':');
	if (!colon || colon == buf)
		goto bad_scheme;
	*colon = '\0';
	if (!islower((unsigned char)buf[0]))
		goto bad_scheme;
	for (char *p = buf; *p; p++)
		if (!islower((unsigned char)*p) &&
		    !isdigit((unsigned char)*p) && *p != '+' && *p != '-' &&
		    *p != '.')
			goto bad_scheme;
	u->scheme = buf;

	char *rest = colon + 1;
	char *q = strchr(rest, '?');
	if (q) {
		*q++ = '\0';
		if (*q == '\0') {
			ipk__url_free(u);
			return url_bad(text, "empty query after '?'");
		}
	}
	int rv;
	if (rest[0] == '/' && rest[1] == '/') {
		char *a = rest + 2;
		char *slash = strchr(a, '/');
		if (slash && a[0] != '@') {
			/* Keep the '/': move authority one byte left. */
			size_t alen = (size_t)(slash - a);
			char *dst = a - 1;
			memmove(dst, a, alen);
			dst[alen] = '\0';
			a = dst;
			u->path = slash;
		}
		rv = url_parse_authority(u, a, text);
		if (rv == 0 && slash && a[0] != '@' && strstr(slash, "//"))
			rv = url_bad(text, "empty path component ('//')");
	} else {
		u->path = rest;
		rv = 0;
	}
	if (rv == 0)
		rv = url_parse_query(u, q, text);
	if (rv < 0) {
		ipk__url_free(u);
		return rv;
	}
	return 0;

bad_scheme:
	ipk__url_free(u);
	return ipk__err(-EINVAL,
	    "invalid URL '%.200s': expected scheme:... (e.g. fifo:///tmp/x)",
	    text);
}

void
ipk__url_free(struct ipk__url *u)
{
	ipk__free(u->buf);
	memset(u, 0, sizeof(*u));
}

int
ipk__url_str(const struct ipk__url *u, const char *key, const char **out)
{
	for (int i = 0; i < u->nopt; i++)
		if (strcmp(u->key[i], key) == 0) {
			*out = u->val[i];
			return 0;
		}
	return 1;
}

int
ipk__parse_size(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	uint64_t v = 0;
	const char *p = s;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	unsigned shift = 0;
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		p++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		p++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		p++;
		break;
	case 't':
	case 'T':
		shift = 40;
		p++;
		break;
	default:
		return -EINVAL;
	}
	if (shift && (*p == 'i' || *p == 'I'))
		p++;
	if (shift && (*p == 'b' || *p == 'B'))
		p++;
	if (*p != '\0')
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

int
ipk__url_size(const struct ipk__url *u, const char *key, uint64_t *out)
{
	const char *v;
	if (ipk__url_str(u, key, &v))
		return 1;
	if (ipk__parse_size(v, out) < 0)
		return ipk__err(-EINVAL,
		    "%s: option %s=%s is not a size (e.g. 4096, 64K, 8M)",
		    u->text, key, v);
	return 0;
}

int
ipk__url_int(const struct ipk__url *u, const char *key, int64_t min,
    int64_t max, int64_t *out)
{
	const char *v;
	if (ipk__url_str(u, key, &v))
		return 1;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 0);
	if (errno || *end != '\0' || end == v || x < min || x > max)
		return ipk__err(-EINVAL,
		    "%s: option %s=%s must be an integer from %lld to %lld",
		    u->text, key, v, (long long)min, (long long)max);
	*out = x;
	return 0;
}
