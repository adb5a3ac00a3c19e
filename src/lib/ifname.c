/* One check of a user's interface name, the kernel's, so a bad name is refused with a sentence
 * before any ioctl or netlink request turns it into a bare EINVAL. */
#include <string.h>
#include <net/if.h>

#include "lib/ifname.h"

_Static_assert(IFNAMSIZ == 16, "IFNAME_RULE says 15 characters");

bool ifname_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strnlen(name, IFNAMSIZ);
	if (n == 0 || n == IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	/* the kernel's isspace(): the C locale's, whatever ours is */
	for (; *name; name++)
		if (*name == '/' || *name == ':' || *name == ' ' || (*name >= '\t' && *name <= '\r'))
			return false;
	return true;
}
