/* SPDX-License-Identifier: MIT */
/*
 * json.c - the strict JSON reader of json.h: recursive descent over a
 * buffer, with a depth limit, so a malformed or hostile file gives a
 * sentence with its line and column, never a crash.
 */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32

struct json_in {
	const char *p, *end, *start;
	char *err;
	size_t cap;
	int failed;
};

static void __attribute__((format(printf, 2, 3)))
json_fail(struct json_in *in, const char *fmt, ...)
{
	char what[160];
	va_list ap;
	int line = 1, col = 1;
	if (in->failed)
		return;
	in->failed = 1;
	for (const char *q = in->start; q < in->p && q < in->end; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(in->err, in->cap, "line %d, column %d: %s", line, col, what);
}

static void
json_ws(struct json_in *in)
{
	while (in->p < in->end &&
	    (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' ||
		*in->p == '\r'))
		in->p++;
}

static int
json_lit(struct json_in *in, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n))
		return 0;
	in->p += n;
	return 1;
}

static int
json_hex4(struct json_in *in, unsigned *out)
{
	unsigned v = 0;
	if (in->end - in->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char ch = in->p[i];
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (unsigned)(ch - 'A' + 10);
		else
			return -1;
	}
	in->p += 4;
	*out = v;
	return 0;
}

static size_t
json_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One \u escape (and its low surrogate), in->p just after the 'u'. */
static int
json_uescape(struct json_in *in, unsigned *cp)
{
	unsigned hi, lo;
	if (json_hex4(in, &hi) < 0)
		return -1;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return -1;
	if (hi < 0xd800 || hi > 0xdbff) {
		*cp = hi;
		return 0;
	}
	if (!json_lit(in, "\\u") || json_hex4(in, &lo) < 0 || lo < 0xdc00 ||
	    lo > 0xdfff)
		return -1;
	*cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
	return 0;
}

/* A string, in->p at the opening quote; the decoded copy is malloc'ed. The
 * decoded form is never longer than the source, so one allocation fits. */
static char *
json_string(struct json_in *in)
{
	const char *q = ++in->p;
	while (q < in->end && *q != '"')
		q += *q == '\\' && q + 1 < in->end ? 2 : 1;
	if (q >= in->end) {
		json_fail(in, "a string is not closed");
		return NULL;
	}
	char *out = malloc((size_t)(q - in->p) + 1), *o = out;
	if (!out) {
		json_fail(in, "out of memory");
		return NULL;
	}
	while (*in->p != '"') {
		unsigned char ch = (unsigned char)*in->p++;
		unsigned cp;
		if (ch < 0x20) {
			in->p--;
			json_fail(in, "a control character inside a string");
			free(out);
			return NULL;
		}
		if (ch != '\\') {
			*o++ = (char)ch;
			continue;
		}
		switch (*in->p++) {
		case '"':
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case '/':
			*o++ = '/';
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			/* \uXXXX is 6 bytes for at most 3 out (4 for 12). */
			if (json_uescape(in, &cp) < 0 || cp == 0) {
				json_fail(in, "a bad \\u escape in a string");
				free(out);
				return NULL;
			}
			o += json_utf8(o, cp);
			break;
		default:
			in->p--;
			json_fail(in, "a bad escape in a string");
			free(out);
			return NULL;
		}
	}
	in->p++;
	*o = 0;
	return out;
}

static int
json_number(struct json_in *in, double *out)
{
	const char *s = in->p, *q = s;
	char buf[64];
	if (q < in->end && *q == '-')
		q++;
	if (q < in->end && *q == '0') {
		q++;
	} else if (q < in->end && *q >= '1' && *q <= '9') {
		while (q < in->end && *q >= '0' && *q <= '9')
			q++;
	} else {
		return -1;
	}
	if (q < in->end && *q == '.') {
		if (++q >= in->end || *q < '0' || *q > '9')
			return -1;
		while (q < in->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < in->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < in->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= in->end || *q < '0' || *q > '9')
			return -1;
		while (q < in->end && *q >= '0' && *q <= '9')
			q++;
	}
	if ((size_t)(q - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(q - s));
	buf[q - s] = 0;
	errno = 0;
	*out = strtod(buf, NULL);
	if (errno == ERANGE && !isfinite(*out))
		return -1;
	in->p = q;
	return 0;
}

static struct json *json_value(struct json_in *in, int depth);

/* The elements of an array or the members of an object. */
static int
json_items(struct json_in *in, struct json *j, int depth)
{
	int obj = j->type == JSON_OBJ;
	char close = obj ? '}' : ']';
	struct json **tail = &j->child;
	in->p++;
	json_ws(in);
	if (in->p < in->end && *in->p == close) {
		in->p++;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		json_ws(in);
		if (obj) {
			if (in->p >= in->end || *in->p != '"') {
				json_fail(
				    in, "expected a member name in quotes");
				return -1;
			}
			if (!(key = json_string(in)))
				return -1;
			json_ws(in);
			if (in->p >= in->end || *in->p != ':') {
				json_fail(
				    in, "expected ':' after a member name");
				free(key);
				return -1;
			}
			in->p++;
		}
		struct json *v = json_value(in, depth + 1);
		if (!v) {
			free(key);
			return -1;
		}
		v->key = key;
		*tail = v;
		tail = &v->next;
		json_ws(in);
		if (in->p < in->end && *in->p == ',') {
			in->p++;
			continue;
		}
		if (in->p < in->end && *in->p == close) {
			in->p++;
			return 0;
		}
		json_fail(in, "expected ',' or '%c'", close);
		return -1;
	}
}

static struct json *
json_value(struct json_in *in, int depth)
{
	struct json *j;
	json_ws(in);
	if (depth > JSON_MAX_DEPTH) {
		json_fail(in, "nested deeper than %d levels", JSON_MAX_DEPTH);
		return NULL;
	}
	if (in->p >= in->end) {
		json_fail(in, "the file ends where a value was expected");
		return NULL;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		json_fail(in, "out of memory");
		return NULL;
	}
	switch (*in->p) {
	case '{':
	case '[':
		j->type = *in->p == '{' ? JSON_OBJ : JSON_ARR;
		if (json_items(in, j, depth) < 0)
			goto err;
		return j;
	case '"':
		j->type = JSON_STR;
		if (!(j->str = json_string(in)))
			goto err;
		return j;
	default:
		break;
	}
	if (json_lit(in, "true") || json_lit(in, "false")) {
		j->type = JSON_BOOL;
		j->boolean = in->p[-1] == 'e' && in->p[-2] == 'u';
	} else if (json_lit(in, "null")) {
		j->type = JSON_NULL;
	} else if (json_number(in, &j->num) == 0) {
		j->type = JSON_NUM;
	} else {
		json_fail(in,
		    "expected a value (object, array, string, number, "
		    "true, false or null)");
		goto err;
	}
	return j;
err:
	json_free(j);
	return NULL;
}

struct json *
json_parse(const char *text, size_t len, char *err, size_t cap)
{
	struct json_in in = {text, text + len, text, err, cap, 0};
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		in.p += 3;
	struct json *j = json_value(&in, 0);
	if (!j)
		return NULL;
	json_ws(&in);
	if (in.p != in.end) {
		json_fail(&in, "unexpected text after the end of the document");
		json_free(j);
		return NULL;
	}
	return j;
}

void
json_free(struct json *j)
{
	while (j) {
		struct json *next = j->next;
		json_free(j->child);
		free(j->str);
		free(j->key);
		free(j);
		j = next;
	}
}

const struct json *
json_get(const struct json *j, const char *key)
{
	if (!j || j->type != JSON_OBJ)
		return NULL;
	for (const struct json *m = j->child; m; m = m->next)
		if (m->key && !strcmp(m->key, key))
			return m;
	return NULL;
}
