/* IP addresses as text, the way ip(8) and wg(8) print them: "198.18.0.1:51820",
 * "[2001:db8::1]:51820", "[fe80::1%2]:51820", "198.18.0.0/15". */
#ifndef CULVERT_ADDR_H
#define CULVERT_ADDR_H
#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Room for the longest: '[', an IPv6 address, '%', a 10-digit scope, "]:65535" and the NUL. */
#define ADDR_STRLEN (INET6_ADDRSTRLEN + 20)

/* An AF_INET or AF_INET6 sockaddr, with its port when port is true (brackets around IPv6 then)
 * and its scope id when it has one. AF_UNSPEC is "(none)", another family "(family N)". */
const char *addr_sockaddr_str(const struct sockaddr *sa, bool port, char *buf, size_t len);
/* The 4 or 16 bytes of an AF_INET or AF_INET6 address; "?" for another family. */
const char *addr_str(int family, const void *addr, char *buf, size_t len);
/* addr_str and "/cidr". */
const char *addr_cidr_str(int family, const void *addr, unsigned int cidr, char *buf, size_t len);

#endif
