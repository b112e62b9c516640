/* SPDX-License-Identifier: MIT */
/*
 * err.c - error codes to sentences. A thread-local record keeps the detailed
 * sentence of the last failure in this thread, so ipk_strerror() can say
 * "message of 20000000 bytes exceeds the channel's limit of 16777216" rather
 * than "Message too long".
 */
#include "core/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ERR_MSG_MAX 512

static _Thread_local struct {
	int code;
	char msg[ERR_MSG_MAX];
	char out[ERR_MSG_MAX + 64];
} err_tls;

int
ipk__verr(int code, const char *fmt, va_list ap)
{
	int e = errno;
	err_tls.code = code;
	(void)vsnprintf(err_tls.msg, sizeof(err_tls.msg), fmt, ap);
	errno = e;
	return code;
}

int
ipk__err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ipk__verr(code, fmt, ap);
	va_end(ap);
	return code;
}

void
ipk__err_clear(void)
{
	err_tls.code = 0;
}

int
ipk__err_last(const char **msg)
{
	if (msg)
		*msg = err_tls.code ? err_tls.msg : "";
	return err_tls.code;
}

void
ipk__err_prefix(const char *url)
{
	if (!err_tls.code || !url || !*url)
		return;
	size_t n = strlen(url);
	if (strncmp(err_tls.msg, url, n) == 0)
		return;
	char tmp[ERR_MSG_MAX];
	memcpy(tmp, err_tls.msg, sizeof(tmp));
	size_t ul = IPK__MIN(n, (size_t)200);
	size_t ml = strnlen(tmp, sizeof(tmp) - 1);
	if (ul + 2 + ml > sizeof(err_tls.msg) - 1)
		ml = sizeof(err_tls.msg) - 1 - ul - 2;
	memcpy(err_tls.msg, url, ul);
	memcpy(err_tls.msg + ul, ": ", 2);
	memcpy(err_tls.msg + ul + 2, tmp, ml);
	err_tls.msg[ul + 2 + ml] = '\0';
}

static const char *
err_generic(int err)
{
	switch (err) {
#define IPK__ERR_CASE(name, val, msg)                                          \
	case val:                                                              \
		return msg;
		IPK_ERRNO_MAP(IPK__ERR_CASE)
#undef IPK__ERR_CASE
	case -ETIMEDOUT:
		return "timed out";
	case -EAGAIN:
		return "nothing ready (try again)";
	case -EMSGSIZE:
		return "message too large for the channel";
	case -EBADMSG:
		return "malformed message from the peer";
	}
	if (err < 0 && err > -4000) {
		const char *s = strerrordesc_np(-err);
		if (s)
			return s;
	}
	return "unknown error";
}

const char *
ipk_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err_tls.code == err && err_tls.msg[0]) {
		snprintf(err_tls.out, sizeof(err_tls.out), "%s", err_tls.msg);
		return err_tls.out;
	}
	return err_generic(err);
}

const char *
ipk_errname(int err)
{
	switch (err) {
	case 0:
		return "OK";
#define IPK__ERR_NAME(name, val, msg)                                          \
	case val:                                                              \
		return "IPK_" #name;
		IPK_ERRNO_MAP(IPK__ERR_NAME)
#undef IPK__ERR_NAME
	}
	if (err < 0 && err > -4000) {
		const char *s = strerrorname_np(-err);
		if (s)
			return s;
	}
	return "E?";
}
