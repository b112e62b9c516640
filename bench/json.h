/* SPDX-License-Identifier: MIT */
/*
 * json.h - a small strict JSON reader for the benchmark's own files
 * (--from, --compare). RFC 8259 syntax; nesting is limited, every string
 * is checked and decoded to UTF-8, numbers are doubles.
 */
#ifndef IPK_BENCH_JSON_H
#define IPK_BENCH_JSON_H

#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

struct json {
	enum json_type type;
	int boolean;
	double num;
	char *str; /* JSON_STR: the decoded value, NUL-terminated */
	char *key; /* member name when inside an object, else NULL */
	struct json *child; /* first element or member */
	struct json *next; /* next sibling */
};

/*
 * Parse text[0..len). Returns the tree (free with json_free) or NULL with a
 * sentence in err: "line 3, column 7: expected ':' after a member name".
 */
struct json *json_parse(const char *text, size_t len, char *err, size_t cap);
void json_free(struct json *j);

/* The member `key` of an object, or NULL (also when j is not an object). */
const struct json *json_get(const struct json *j, const char *key);

#endif
