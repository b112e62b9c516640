/* SPDX-License-Identifier: MIT */
/*
 * list.h - every transport, one line each. The registry and the contract test
 * suite both expand this list, so adding a transport is its file plus a line.
 * No include guard: included with different X definitions.
 */
IPK__TRANSPORT(pipe)
IPK__TRANSPORT(fifo)
IPK__TRANSPORT(unix)
IPK__TRANSPORT(mq)
IPK__TRANSPORT(sysv)
IPK__TRANSPORT(tcp)
IPK__TRANSPORT(udp)
IPK__TRANSPORT(nng_tcp)
IPK__TRANSPORT(nng_ipc)
IPK__TRANSPORT(shm)
IPK__TRANSPORT(inproc)
IPK__TRANSPORT(memfd)
