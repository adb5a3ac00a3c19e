/* Interface names as the kernel takes them (dev_valid_name): 1 to IFNAMSIZ - 1 bytes, none
 * of them '/', ':' or white space, and not "." or "..". */
#ifndef CULVERT_IFNAME_H
#define CULVERT_IFNAME_H
#include <stdbool.h>

/* What ifname_valid refuses, for the sentence that refuses it (IFNAMSIZ - 1 is 15). */
#define IFNAME_RULE "at most 15 characters, none of them '/', ':' or white space, not '.' or '..'"

/* True when the kernel would accept NAME for a new link. NULL is not a name. */
bool ifname_valid(const char *name);

#endif
