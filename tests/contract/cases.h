/* SPDX-License-Identifier: MIT */
/*
 * cases.h - the contract cases, one line each; CMake reads this file to
 * register "<variant> <case>" tests. CONTRACT_CASE has a peer process,
 * CONTRACT_SOLO runs alone. No include guard: expanded twice.
 */
CONTRACT_CASE(pingpong)
CONTRACT_CASE(empty)
CONTRACT_CASE(maxsize)
CONTRACT_CASE(stream)
CONTRACT_CASE(zerocopy)
CONTRACT_CASE(timeout)
CONTRACT_CASE(peerkill)
CONTRACT_CASE(closeblock)
CONTRACT_CASE(oversize)
CONTRACT_CASE(fd)
CONTRACT_SOLO(badurl)
CONTRACT_SOLO(refuse)
CONTRACT_SOLO(duplisten)
