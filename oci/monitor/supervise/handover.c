// The handover between the Go monitor and this C steady state: text lines
// "<keyword> <field>...", fields separated by one space, strings %XX-escaped
// (bytes <= 0x20, '%', >= 0x7f). Go writes it (oci/monitor/server), C parses
// it in place and writes it back, updated, when it execs Go again.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervise.h"

#define MAXFIELD (32 + 2 * MAXREP)

struct handover h;

// unescape decodes %XX in place; it fails on a malformed escape.
static int unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (*r != '%') { *w++ = *r; continue; }
		int v = 0;
		for (int i = 1; i <= 2; i++) {
			char x = r[i];
			int d = x >= '0' && x <= '9' ? x - '0' : x >= 'A' && x <= 'F' ? x - 'A' + 10 : -1;
			if (d < 0) return -1;
			v = v * 16 + d;
		}
		*w++ = (char)v;
		r += 2;
	}
	*w = 0;
	return 0;
}

static int num(const char *s, long long min, long long *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (!*s || *end || errno || x < min) return -1;
	*v = x;
	return 0;
}

static int unum(const char *s, unsigned long long *v)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9') return -1;
	*v = strtoull(s, &end, 10);
	return *end || errno ? -1 : 0;
}

static int fdnum(const char *s, int *fd)
{
	long long v;
	if (num(s, -1, &v) || v > 1 << 30) return -1;
	*fd = (int)v;
	return 0;
}

// split cuts line at each space (fields stay escaped). It returns their count.
static int split(char *line, char **f)
{
	int n = 0;
	for (char *p = line;;) {
		if (n == MAXFIELD) return -1;
		f[n++] = p;
		char *sp = strchr(p, ' ');
		if (!sp) break;
		*sp = 0;
		p = sp + 1;
	}
	return n;
}

static int ctr_kv(struct ctr *c, char *kv)
{
	char *v = strchr(kv, '=');
	if (!v || v == kv) return -1;
	*v++ = 0;
	long long x;
	// Strings C reads are unescaped; the others are never looked at.
	static const char *const str[] = {"dir", "cgproc", "oomfile", "oomkey", "createdat", "startedat", "finishedat"};
	for (size_t i = 0; i < sizeof(str) / sizeof(*str); i++)
		if (!strcmp(kv, str[i]) && unescape(v)) return -1;
	if (!strcmp(kv, "pid")) return num(v, 0, &c->pid);
	if (!strcmp(kv, "starttime")) return unum(v, &c->starttime);
	if (!strcmp(kv, "status")) {
		c->status = v;
		return strcmp(v, "created") && strcmp(v, "running") && strcmp(v, "stopped") ? -1 : 0;
	}
	if (!strcmp(kv, "exitcode")) return num(v, -(1LL << 31), &c->exitcode);
	if (!strcmp(kv, "oom")) { c->oom = !strcmp(v, "1"); return 0; }
	if (!strcmp(kv, "oomwatch")) { c->oomwatch = !strcmp(v, "1"); return 0; }
	if (!strcmp(kv, "console")) return fdnum(v, &c->console);
	if (!strcmp(kv, "createdat")) { c->created = v; return 0; }
	if (!strcmp(kv, "startedat")) { c->started = v; return 0; }
	if (!strcmp(kv, "finishedat")) { c->finished = v; return 0; }
	if (!strcmp(kv, "dir")) { c->dir = v; return 0; }
	if (!strcmp(kv, "log")) return fdnum(v, &c->log);
	if (!strcmp(kv, "out")) return fdnum(v, &c->out.fd);
	if (!strcmp(kv, "err")) return fdnum(v, &c->err.fd);
	if (!strcmp(kv, "maxline")) {
		if (num(v, 0, &x) || x > 1 << 24) return -1;
		c->maxline = x ? (size_t)x : 16 << 10; // as server.OpenLog: 0 is the default
		return 0;
	}
	if (!strcmp(kv, "cgproc")) {
		if (c->ncg == MAXREP) return -1;
		c->cgproc[c->ncg++] = v;
		return 0;
	}
	if (!strcmp(kv, "oomfile")) { c->oomfile = v; return 0; }
	if (!strcmp(kv, "oomkey")) { c->oomkey = v; return 0; }
	if (!strcmp(kv, "oombase")) return unum(v, &c->oombase);
	// stdin, logpath, stdinonce and what a later Go adds: handed back as they came.
	if (c->nextra == MAXEXTRA) return -1;
	v[-1] = '=';
	c->extra[c->nextra++] = kv;
	return 0;
}

static int ctr_line(char **f, int n)
{
	if (n < 2 || h.nctr == MAXCTR) return -1;
	struct ctr *c = &h.ctrs[h.nctr++];
	c->id = f[1];
	if (unescape(c->id)) return -1;
	c->log = c->out.fd = c->err.fd = c->console = c->wd = -1;
	c->maxline = 16 << 10;
	c->out.name = "stdout";
	c->err.name = "stderr";
	for (int i = 2; i < n; i++)
		if (ctr_kv(c, f[i])) return -1;
	if (!c->status || !c->dir || !c->created || !c->started || !c->finished) return -1;
	// Bounds for the JSON buffer: an id is a directory name, times are RFC 3339.
	if (strlen(c->id) > 255 || strlen(c->created) > 64 || strlen(c->started) > 64) return -1;
	if (!c->oomfile != !c->oomkey) return -1;
	// Allocated once here: the loop keeps partial lines in them. Mapped, not
	// malloc'd: a chunk header would make a page of each resident, unused or not.
	char *p = mmap(NULL, 2 * c->maxline, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) return -1;
	c->out.pending = p, c->err.pending = p + c->maxline;
	return 0;
}

// pending <id> stdout|stderr <len>, then len raw bytes and "\n".
static int pending_line(char **f, int n, char **p, char *end)
{
	long long len;
	if (n != 4 || num(f[3], 1, &len) || unescape(f[1])) return -1;
	for (int i = 0; i < h.nctr; i++) {
		struct ctr *c = &h.ctrs[i];
		if (strcmp(c->id, f[1])) continue;
		struct stream *s = !strcmp(f[2], "stdout") ? &c->out : !strcmp(f[2], "stderr") ? &c->err : NULL;
		if (!s || (size_t)len > c->maxline || len + 1 > end - *p || (*p)[len] != '\n') return -1;
		memcpy(s->pending, *p, len);
		s->plen = len;
		*p += len + 1;
		return 0;
	}
	return -1;
}

int handover_parse(int fd, const char **why)
{
	struct stat st;
	*why = "read";
	if (fstat(fd, &st) || st.st_size <= 0 || st.st_size > 1 << 28) return -1;
	char *buf = malloc(st.st_size + 1), *p = buf, *end = buf + st.st_size, *f[MAXFIELD];
	if (!buf) return -1;
	for (off_t got = 0; got < st.st_size;) {
		ssize_t r = pread(fd, buf + got, st.st_size - got, got);
		if (r <= 0) return -1;
		got += r;
	}
	*end = 0;
	h.listener = -1;
	*why = "format";
	for (int first = 1;; first = 0) {
		char *nl = memchr(p, '\n', end - p);
		if (!nl) return -1;
		*nl = 0;
		char *line = p;
		p = nl + 1;
		int n = split(line, f);
		if (n < 1) return -1;
		if (first) {
			if (n != 2 || strcmp(f[0], "crid-handover") || strcmp(f[1], "1")) return -1;
		} else if (!strcmp(f[0], "end")) {
			return h.argc && h.listener >= 0 ? 0 : -1;
		} else if (!strcmp(f[0], "argv")) {
			if (n != 2 || h.argc == MAXARGV - 3 || unescape(f[1])) return -1; // room for --resume fd NULL
			h.argv[h.argc++] = f[1];
		} else if (!strcmp(f[0], "listener")) {
			if (n != 2 || fdnum(f[1], &h.listener)) return -1;
		} else if (!strcmp(f[0], "sub")) {
			if (n != 2 || h.nsub == MAXSUB || fdnum(f[1], &h.subs[h.nsub++])) return -1;
		} else if (!strcmp(f[0], "ctr")) {
			if (ctr_line(f, n)) { *why = "container"; return -1; }
		} else if (!strcmp(f[0], "pending")) {
			if (pending_line(f, n, &p, end)) { *why = "pending"; return -1; }
		} else {
			*why = "unknown line";
			return -1;
		}
	}
}

// The writer: one static buffer, flushed to the memfd as it fills.
static char wbuf[8192];
static size_t wlen;
static int wfd, werr;

static void w_flush(void)
{
	for (size_t off = 0; off < wlen && !werr;) {
		ssize_t r = write(wfd, wbuf + off, wlen - off);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) werr = 1;
		else off += r;
	}
	wlen = 0;
}

static void w_raw(const char *s, size_t n)
{
	while (n) {
		if (wlen == sizeof(wbuf)) w_flush();
		size_t k = n < sizeof(wbuf) - wlen ? n : sizeof(wbuf) - wlen;
		memcpy(wbuf + wlen, s, k);
		wlen += k, s += k, n -= k;
	}
}

static void w_s(const char *s) { w_raw(s, strlen(s)); }

static void w_esc(const char *s)
{
	for (; *s; s++) {
		unsigned char b = *s;
		if (b > 0x20 && b < 0x7f && b != '%') { w_raw((char *)&b, 1); continue; }
		char x[3] = {'%', "0123456789ABCDEF"[b >> 4], "0123456789ABCDEF"[b & 15]};
		w_raw(x, 3);
	}
}

static void w_num(const char *key, long long v)
{
	char b[32], *e = b + sizeof(b), *q = e;
	unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
	do *--q = '0' + u % 10; while (u /= 10);
	if (v < 0) *--q = '-';
	w_s(key);
	w_raw(q, e - q);
}

static void w_unum(const char *key, unsigned long long u)
{
	char b[32], *e = b + sizeof(b), *q = e;
	do *--q = '0' + u % 10; while (u /= 10);
	w_s(key);
	w_raw(q, e - q);
}

static void w_kv(const char *key, const char *v)
{
	w_s(key);
	w_esc(v);
}

int handover_write(int fd, int conn, int sig)
{
	wfd = fd, wlen = 0, werr = 0;
	w_s("crid-handover 1\n");
	for (int i = 0; i < h.argc; i++) { w_kv("argv ", h.argv[i]); w_s("\n"); }
	w_num("listener ", h.listener);
	w_s("\n");
	for (int i = 0; i < h.nsub; i++) { w_num("sub ", h.subs[i]); w_s("\n"); }
	for (int i = 0; i < h.nctr; i++) {
		struct ctr *c = &h.ctrs[i];
		w_kv("ctr ", c->id);
		w_num(" pid=", c->pid);
		w_unum(" starttime=", c->starttime);
		w_kv(" status=", c->status);
		w_num(" exitcode=", c->exitcode);
		w_num(" oom=", c->oom);
		w_kv(" createdat=", c->created);
		w_kv(" startedat=", c->started);
		w_kv(" finishedat=", c->finished);
		w_kv(" dir=", c->dir);
		w_num(" log=", c->log);
		w_unum(" maxline=", c->maxline);
		w_num(" out=", c->out.fd);
		w_num(" err=", c->err.fd);
		w_num(" console=", c->console);
		for (int k = 0; k < c->ncg; k++) w_kv(" cgproc=", c->cgproc[k]);
		if (c->oomfile) {
			w_kv(" oomfile=", c->oomfile);
			w_kv(" oomkey=", c->oomkey);
			w_unum(" oombase=", c->oombase);
			w_num(" oomwatch=", c->oomwatch);
		}
		for (int k = 0; k < c->nextra; k++) { w_s(" "); w_s(c->extra[k]); }
		w_s("\n");
	}
	for (int i = 0; i < h.nctr; i++) {
		struct ctr *c = &h.ctrs[i];
		struct stream *ss[2] = {&c->out, &c->err};
		for (int k = 0; k < 2; k++) {
			if (!LIVE(ss[k]) || !ss[k]->plen) continue; // an ended stream logged its tail
			w_kv("pending ", c->id);
			w_s(" ");
			w_s(ss[k]->name);
			w_unum(" ", ss[k]->plen);
			w_s("\n");
			w_raw(ss[k]->pending, ss[k]->plen);
			w_s("\n");
		}
	}
	if (conn >= 0) { w_num("conn ", conn); w_s("\n"); }
	if (sig) { w_num("signal ", sig); w_s("\n"); }
	w_s("end\n");
	w_flush();
	return werr ? -1 : 0;
}
