/* SPDX-License-Identifier: MIT */
/*
 * queue_fuzz.c - libFuzzer target: record parsing of the kernel-queue
 * transports. Raw records (any bytes, any priority or mtype) are put
 * straight into the queues of a live mq:// and a live sysv: channel pair,
 * then both ends receive until the queues are empty. Every record must
 * give a message or a documented code (a dropped record), never a crash,
 * an over-long read or a record left behind, and no more messages may
 * come out than well-formed records went in.
 *
 * Input: records { u8 sel, u16 len, len bytes }. sel bit 0: to the
 * listener side (else the dialer), bit 1: sysv (else mq), bits 2-7: the
 * priority (mq) or mtype (sysv, 0 means "ipckit's own" for the side).
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <unistd.h>

#include "core/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ipk_listener *lst[2];
static struct ipk_chan *ch[2][2]; /* [mq, sysv][dialer, listener side] */
static mqd_t mqd[2] = {(mqd_t)-1, (mqd_t)-1}; /* to dialer, to listener */
static int msqid = -1;
/* Well-formed records put into each queue, messages taken out. */
static long sent_ok[2][2], got_ok[2][2];

static void
queue_cleanup(void)
{
	for (int k = 0; k < 2; k++) {
		if (mqd[k] != (mqd_t)-1)
			mq_close(mqd[k]);
		for (int s = 0; s < 2; s++)
			if (ch[k][s])
				ipk_close(ch[k][s]);
		if (lst[k])
			ipk_listener_close(lst[k]);
	}
}

static void
queue_setup(void)
{
	char url[2][80], name[96];
	struct ipk_opts o = {0};
	int pid = (int)getpid();
	snprintf(url[0], sizeof(url[0]), "mq:///ipk-fuzz-q-%d", pid);
	snprintf(url[1], sizeof(url[1]), "sysv:0x%08x",
	    0x1f000000u | ((unsigned)pid & 0xffffff));
	for (int k = 0; k < 2; k++)
		if (ipk_listen(url[k], &o, &lst[k]) < 0 ||
		    ipk_dial(url[k], &o, &ch[k][0]) < 0 ||
		    ipk_accept(lst[k], 1000, &ch[k][1]) < 0) {
			fprintf(stderr, "%s: %s\n", url[k], ipk_strerror(0));
			abort();
		}
	snprintf(name, sizeof(name), "/ipk-fuzz-q-%d.ipk-d", pid);
	mqd[0] = mq_open(name, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	snprintf(name, sizeof(name), "/ipk-fuzz-q-%d.ipk-l", pid);
	mqd[1] = mq_open(name, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	msqid = msgget((key_t)(0x1f000000u | ((unsigned)pid & 0xffffff)), 0);
	if (mqd[0] == (mqd_t)-1 || mqd[1] == (mqd_t)-1 || msqid < 0)
		abort();
	atexit(queue_cleanup);
}

/* Is this record one ipckit wrote: header { u32 type, u32 magic }, and
 * for the typed sysv side a kernel type of 2 + type? */
static int
queue_wellformed(int sysv, long mtype, const uint8_t *p, size_t len)
{
	uint32_t h[2];
	if (len < 8)
		return 0;
	memcpy(h, p, 8);
	if (h[1] != (sysv ? 0x736b7069u : 0x716b7069u))
		return 0;
	return !sysv || mtype == 1 || mtype == 2 + (long)h[0];
}

/* Receive until the queue is empty; a record may be dropped with a code,
 * but no more messages may come out than well-formed records went in. */
static void
queue_drain(struct ipk_chan *c, int typed, long *got, long sent)
{
	static unsigned char buf[1 << 16];
	for (int i = 0; i < 100000; i++) {
		size_t len = 0;
		uint32_t type;
		int rv = typed && (i & 1)
		    ? ipk_recv_type(
			  c, (uint32_t)i & 3, buf, sizeof(buf), &len, 0)
		    : ipk_recv(c, buf, sizeof(buf), &len, &type, 0);
		if (rv == 0 && (len > sizeof(buf) || ++*got > sent))
			abort();
		if (rv == -EAGAIN && !(typed && (i & 1)))
			return;
		/* No record put in here can exceed the queue's limit or
		 * the buffer: -EMSGSIZE would be a length gone wrong. */
		if (rv < 0 && rv != -EAGAIN && rv != -EBADMSG) {
			fprintf(stderr, "unexpected %d: %s\n", rv,
			    ipk_strerror(rv));
			abort();
		}
	}
	abort(); /* a record that never leaves */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct {
		long mtype;
		unsigned char text[8192];
	} m;
	if (!lst[0])
		queue_setup();
	while (size >= 3) {
		unsigned sel = data[0];
		size_t len = (size_t)data[1] | (size_t)data[2] << 8;
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (len > sizeof(m.text))
			len = sizeof(m.text);
		if (sel & 2) {
			long t = (long)(sel >> 2);
			m.mtype = t ? t : (sel & 1 ? 2 : 1);
			memcpy(m.text, data, len);
			if (msgsnd(msqid, &m, len, IPC_NOWAIT) == 0)
				sent_ok[1][m.mtype != 1] +=
				    queue_wellformed(1, m.mtype, data, len);
		} else if (mq_send(mqd[sel & 1], (const char *)data, len,
			       sel >> 2) == 0) {
			sent_ok[0][sel & 1] +=
			    queue_wellformed(0, 0, data, len);
		}
		data += len;
		size -= len;
	}
	for (int k = 0; k < 2; k++)
		for (int s = 0; s < 2; s++)
			queue_drain(ch[k][s], k == 1 && s == 1, &got_ok[k][s],
			    sent_ok[k][s]);
	return 0;
}
