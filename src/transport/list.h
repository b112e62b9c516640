/* SPDX-License-Identifier: MIT */
/*
 * list.h - every transport, one line each. The registry expands this list;
 * the contract suite, the crash matrix and ipckit bench take their rows
 * from the tables it names (ipk_scheme_variant, ipk_scheme_url), so adding
 * a transport is its file plus a line. The order is the order of
 * ipk_schemes(), of ipckit --help and of the benchmark's rows: the seed
 * article's, pipes and queues first, then shared memory, then sockets,
 * then the broker (served by an optional part, see mqtt.c).
 * No include guard: included with different X definitions.
 */
IPK__TRANSPORT(pipe)
IPK__TRANSPORT(fifo)
IPK__TRANSPORT(mq)
IPK__TRANSPORT(sysv)
IPK__TRANSPORT(shm)
IPK__TRANSPORT(inproc)
IPK__TRANSPORT(unix)
IPK__TRANSPORT(tcp)
IPK__TRANSPORT(udp)
IPK__TRANSPORT(nng_tcp)
IPK__TRANSPORT(nng_ipc)
IPK__TRANSPORT(memfd)
IPK__TRANSPORT(mqtt)
IPK__TRANSPORT(mqtts)
