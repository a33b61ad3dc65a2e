#define _GNU_SOURCE
/* mllprate: a paced MLLP sender for the end-to-end benchmark. Sends every message of FILE (one a line,
   segments separated by \r, as for ../shared/tools/mllpload.c) at RATE messages a second over C
   connections (message i goes on connection i % C at t0 + i / RATE) with at most W unanswered on each.
   Every 20 ms it rewrites STATUS (via rename) with:
     line 1:  elapsed_s sent acked aa ae ar behind_ms
     then one line a connection:  index ack_epoch_ms mrn control_id   (its most recently ACKed message)
   behind_ms is how late the sender is against the schedule (a full window, i.e. slow ACKs, makes it late).
   At the end it prints: sent aa ae ar seconds msg_per_s p50_ms p99_ms max_behind_ms
   (and on stderr the first ten ACKs that were not AA). A huge RATE sends as fast as the window allows.
   usage: mllprate PORT FILE RATE CONNECTIONS WINDOW STATUS */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char **msgs; static size_t nmsgs; static int port, conns, window; static double rate;
static const char *status_path; static double t0;
static atomic_long aa, ae, ar, nsent, nacked; static atomic_int finished, reported;
static double *lat;
static _Atomic double max_behind;
struct last { atomic_long idx; atomic_llong ack_ms; };
static struct last *lasts;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static long long epoch_ms(void) { struct timespec t; clock_gettime(CLOCK_REALTIME, &t); return t.tv_sec * 1000LL + t.tv_nsec / 1000000; }

/* Field `n` (1-based after the segment name) of segment `seg` ("PID|") in message m, first component. */
static void field(const char *m, const char *seg, int n, char *out, size_t cap) {
  out[0] = 0;
  const char *s = strstr(m, seg); if (!s) return;
  for (int k = 0; k < n; k++) { s = strchr(s, '|'); if (!s) return; s++; }
  size_t i = 0; while (s[i] && s[i] != '|' && s[i] != '^' && s[i] != '\r' && i + 1 < cap) { out[i] = s[i]; i++; }
  out[i] = 0;
}

static void write_status(void) {
  char tmp[4096]; snprintf(tmp, sizeof tmp, "%s.tmp", status_path);
  FILE *f = fopen(tmp, "w"); if (!f) return;
  double el = now() - t0, due = el * rate;
  if (due > (double)nmsgs) due = (double)nmsgs;
  double behind = (due - (double)nsent) / rate * 1e3;
  fprintf(f, "%.1f %ld %ld %ld %ld %ld %.0f\n", el, (long)nsent, (long)nacked, (long)aa, (long)ae, (long)ar,
          behind > 0 ? behind : 0.0);
  for (int c = 0; c < conns; c++) {
    long i = lasts[c].idx; if (i < 0) continue;
    char mrn[64], ctl[128]; field(msgs[i], "PID|", 3, mrn, sizeof mrn); field(msgs[i], "MSH|", 9, ctl, sizeof ctl);
    fprintf(f, "%ld %lld %s %s\n", i, (long long)lasts[c].ack_ms, mrn, ctl);
  }
  fclose(f); rename(tmp, status_path);
}

static void *reporter(void *arg) {
  (void)arg;
  while (!finished) { write_status(); usleep(20000); }
  write_status();
  return 0;
}

static void *worker(void *arg) {
  long w = (long)arg; int s = socket(AF_INET, SOCK_STREAM, 0); int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(0x7f000001);
  if (connect(s, (void *)&a, sizeof a) != 0) { perror("connect"); return 0; }
  size_t mine = 0; for (size_t i = w; i < nmsgs; i += conns) mine++;
  double *sent = malloc((mine + 1) * sizeof *sent);
  size_t next = 0, done = 0; char buf[1 << 16]; size_t have = 0; long la = 0, le = 0, lr = 0;
  while (done < mine) {
    double t = now();
    while (next < mine && next - done < (size_t)window) {
      size_t i = w + next * conns; double due = t0 + i / rate;
      if (due > t) break;
      if (t - due > max_behind) max_behind = t - due;
      const char *m = msgs[i]; size_t n = strlen(m);
      char *f = malloc(n + 3); f[0] = 0x0b; memcpy(f + 1, m, n); f[n + 1] = 0x1c; f[n + 2] = 0x0d;
      sent[next] = now();
      for (size_t off = 0; off < n + 3;) { ssize_t k = write(s, f + off, n + 3 - off); if (k <= 0) { perror("write"); free(f); goto out; } off += k; }
      free(f); next++; nsent++;
    }
    /* Sleep until the next message is due or an ACK arrives (ppoll: sub-millisecond, no spinning). */
    double wait = 0.1;
    if (next < mine && next - done < (size_t)window) {
      double due = t0 + (w + next * conns) / rate;
      wait = due - now();
      if (wait < 0) wait = 0;
      if (wait > 0.1) wait = 0.1;
    }
    struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
    struct pollfd p = {s, POLLIN, 0};
    int r = ppoll(&p, 1, &ts, 0);
    if (r <= 0) continue;
    ssize_t k = read(s, buf + have, sizeof buf - have); if (k <= 0) { fprintf(stderr, "connection %ld closed\n", w); goto out; }
    have += k;
    for (;;) {
      char *end = memmem(buf, have, "\x1c\x0d", 2); if (!end) break;
      *end = 0; char *msa = strstr(buf, "MSA"); char code[3] = "??";
      if (msa && strlen(msa) >= 6) { code[0] = msa[4]; code[1] = msa[5]; }
      if (!strcmp(code, "AA")) la++, aa++; else if (!strcmp(code, "AE")) le++, ae++; else lr++, ar++;
      if (strcmp(code, "AA") && atomic_fetch_add(&reported, 1) < 10) {  /* say why, for the first few */
        for (char *c = buf; *c; c++) if (*c == '\r') *c = '|';
        fprintf(stderr, "%s for message %zu: %s\n", code, w + done * conns, buf + (buf[0] == 0x0b));
      }
      size_t i = w + done * conns;
      lat[i] = now() - sent[done]; done++; nacked++;
      lasts[w].ack_ms = epoch_ms(); lasts[w].idx = (long)i;
      size_t used = end + 2 - buf; memmove(buf, buf + used, have - used); have -= used;
    }
  }
out:
  close(s); free(sent); return 0;
}

static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
  if (argc != 7) { fprintf(stderr, "usage: mllprate PORT FILE RATE CONNECTIONS WINDOW STATUS\n"); return 2; }
  port = atoi(argv[1]); rate = atof(argv[3]); conns = atoi(argv[4]); window = atoi(argv[5]); status_path = argv[6];
  if (rate <= 0 || conns <= 0 || window <= 0) { fprintf(stderr, "RATE, CONNECTIONS and WINDOW must be positive\n"); return 2; }
  FILE *f = fopen(argv[2], "r"); if (!f) { perror(argv[2]); return 2; }
  size_t cap = 1024; msgs = malloc(cap * sizeof *msgs); char *line = 0; size_t ln = 0; ssize_t r;
  while ((r = getline(&line, &ln, f)) > 0) {
    if (line[r - 1] == '\n') line[--r] = 0;
    if (!r) continue;
    if (nmsgs == cap) msgs = realloc(msgs, (cap *= 2) * sizeof *msgs);
    msgs[nmsgs++] = strdup(line);
  }
  fclose(f);
  lat = calloc(nmsgs, sizeof *lat);
  lasts = calloc(conns, sizeof *lasts);
  for (int c = 0; c < conns; c++) lasts[c].idx = -1;
  pthread_t *t = malloc(conns * sizeof *t), rep; t0 = now() + 0.05;
  pthread_create(&rep, 0, reporter, 0);
  for (long i = 0; i < conns; i++) pthread_create(&t[i], 0, worker, (void *)i);
  for (int i = 0; i < conns; i++) pthread_join(t[i], 0);
  double dt = now() - t0; long got = aa + ae + ar;
  finished = 1; pthread_join(rep, 0);
  qsort(lat, nmsgs, sizeof *lat, cmp);
  size_t base = nmsgs - got;
  double p50 = got ? lat[base + got / 2] * 1e3 : 0, p99 = got ? lat[base + (size_t)(got * 0.99)] * 1e3 : 0;
  printf("%zu %ld %ld %ld %.3f %.0f %.2f %.2f %.0f\n", nmsgs, (long)aa, (long)ae, (long)ar, dt, got / dt, p50, p99,
         (double)max_behind * 1e3);
  return 0;
}
