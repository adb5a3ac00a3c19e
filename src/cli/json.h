/* JSON output shared by `culvert dev show --json` and `culvert show --json`. */
#ifndef CULVERT_CLI_JSON_H
#define CULVERT_CLI_JSON_H

/* Prints s as a JSON string on stdout. Bytes outside printable ASCII become \u00XX, so a name
 * that is not valid UTF-8 still gives valid JSON (each byte maps back one to one). */
void json_str(const char *s);

#endif
